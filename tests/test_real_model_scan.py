"""On the real model: a text file of no known type is found by a query, and a renamed
file keeps its vectors (nothing is embedded again)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.sniff import UNSUPPORTED
from tests.conftest import real_model_path, write_files

pytestmark = pytest.mark.real_model

FILES = {
    # Names that say nothing of the type: found by content.
    "copyright": "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    "Files: *\nCopyright: 2007-2023 Nicholas Marriott\nLicense: ISC\n Permission to use, "
    "copy, modify, and distribute this software for any purpose with or without fee is "
    "hereby granted.\n",
    "tmux-README": "Welcome to tmux! tmux is a terminal multiplexer: it lets you switch "
    "between several programs in one terminal, detach them (they keep running in the "
    "background) and reattach them to a different terminal.\n",
    "kitchen/sourdough.md": "# Sourdough\n\nFeed the starter with flour and water the night "
    "before, let the dough rise for hours, then bake it in a hot Dutch oven.\n",
    "garden/tomatoes.txt": "Tomato plants want six hours of direct sun, deep watering twice "
    "a week, and stakes once the stems get heavy with fruit.\n",
    "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8,
}


def test_sniffed_text_is_found_and_a_rename_embeds_nothing(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", FILES)
    engine = Engine(load_settings(index_dir=tmp_path / "index"), model=str(real_model_path()))
    try:
        report = engine.index([root])
        assert report.added == 4 and report.skipped == {UNSUPPORTED: 1}
        top = engine.search("keep programs running after closing the terminal window")[0]
        assert top.path == str(root / "tmux-README")
        assert engine.search("software licence terms")[0].path == str(root / "copyright")

        calls: list[int] = []
        real_embed = engine.embedder.embed_documents

        def counting(items):  # type: ignore[no-untyped-def]
            calls.append(len(items))
            return real_embed(items)

        engine.embedder.embed_documents = counting  # type: ignore[method-assign]
        (root / "notes").mkdir()
        os.rename(root / "tmux-README", root / "notes/terminal-multiplexer.txt")
        os.rename(root / "kitchen/sourdough.md", root / "notes/bread.md")
        again = engine.index([root])
        assert calls == [] and again.moved == 2 and again.chunks == 0
        top = engine.search("keep programs running after closing the terminal window")[0]
        assert top.path == str(root / "notes/terminal-multiplexer.txt")
        assert engine.search("baking leavened bread")[0].path == str(root / "notes/bread.md")
        assert engine.check() == ([], [])
    finally:
        engine.close()
