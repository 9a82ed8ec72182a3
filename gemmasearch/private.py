"""Old import path of ``gemmasearch.index.private``, kept only while service/client.py (being
rewritten on the issue-21 front-end branch) still imports it. TODO(issue 21): delete at merge."""

from gemmasearch.index.private import open_private

__all__ = ["open_private"]
