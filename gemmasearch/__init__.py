"""gemmasearch: private, offline search by meaning over your files."""

__version__ = "0.1.0"
