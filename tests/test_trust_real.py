"""Issue 19 on the real model: `similar` by an indexed path over the service answers from
the stored vectors (the file itself is replaced by a FIFO and never opened), ranks the
related file first, and hostile paths are refused with the service answering after."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from tests.conftest import real_model_path, write_files
from tests.test_service import raw, start_service

pytestmark = pytest.mark.real_model

DOCS = {
    "bread.md": "# Sourdough\nFeed the starter with flour and water, then bake the loaf "
                "in a hot oven until the crust is dark.\n",
    "baking.md": "# Rye loaf\nKnead the dough, let it rise overnight and bake it at 230 C.\n",
    "taxes.txt": "File the tax return before April; keep receipts for deductions.\n",
    ".env": "AWS_SECRET=do-not-leak\n",
}


def test_similar_by_indexed_path_over_the_service(tmp_path: Path) -> None:
    engine = Engine(load_settings(index_dir=tmp_path / "index"), model=str(real_model_path()))
    root = write_files(tmp_path / "docs", DOCS)
    engine.index([root])
    running = start_service(engine, watch=False)
    try:
        bread = root / "bread.md"
        bread.unlink()
        os.mkfifo(bread)  # opening it would block: the stored vectors must be the query
        started = time.monotonic()
        answer = running.client.request("POST", "/similar", {"path": str(bread), "k": 2})
        assert time.monotonic() - started < 5
        paths = [Path(r["path"]).name for r in answer["results"]]
        assert paths[0] == "baking.md", paths
        for hostile in ("/dev/zero", "/etc/shadow", str(root / ".env"),
                        f"{root}/../outside.md"):
            code, refused = raw(running.service.address, "POST", "/similar",
                                json.dumps({"path": hostile}).encode())
            assert 400 <= code < 500 and "\n" not in refused["error"], hostile
        found = running.client.request("POST", "/search", {"query": "rye dough", "k": 1})
        assert found["results"][0]["path"].endswith("baking.md")
    finally:
        running.stop()
