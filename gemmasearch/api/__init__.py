"""The one way in: typed requests and results of the JSON API (requests.py, jobs.py), the
engine interface every front end holds (engine.py) and ``connect`` (connect.py), which
decides once whether that engine runs here or in the background service.

Imports nothing: the fast path of ``search --json`` reads fields.py without loading more.
"""
