"""The index folder's file names, in a module that imports nothing (clients of the service
check them without loading SQLite, numpy or FAISS)."""

DB_NAME = "index.sqlite"
LOCK_NAME = "writer.lock"
