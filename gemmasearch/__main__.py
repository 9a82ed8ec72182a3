from gemmasearch.cli.fast import main

main()
