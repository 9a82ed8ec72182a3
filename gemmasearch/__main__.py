from gemmasearch.cli.app import main

main()
