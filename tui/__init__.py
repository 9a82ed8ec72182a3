"""The gemmasearch terminal UI (Textual). Imported only by ``gemmasearch tui``."""
