"""``gemmasearch watch [PATHS]``: keep the index live."""

from __future__ import annotations

from gemmasearch.cli.common import IndexOption, ModelOption


def watch(index_dir: IndexOption = None, model: ModelOption = None) -> None:
    """Follow changes under the indexed folders and keep the index up to date."""
    raise NotImplementedError
