"""The search service: one long-lived process per index that holds the model and the
index, keeps the index live and answers the CLI, the terminal UI and agents over a
private Unix socket. Only this package imports a web framework; the core never does."""
