"""The installed package holds every subpackage of the tree.

pyproject lists packages by hand (the tree maps index/ and tui/ into gemmasearch.*), so a new
subpackage left off the list works in the editable install the tests use and is missing from
`pip install .` — CI's first command failed that way on gemmasearch.api.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pyproject's dependency on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_every_subpackage_in_the_tree_is_listed() -> None:
    config = _setuptools()
    in_tree = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            in_tree.add(".".join([name, *rel.parts]))
    listed = set(config["packages"])
    assert in_tree - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - in_tree == set(), "listed but not in the tree"
