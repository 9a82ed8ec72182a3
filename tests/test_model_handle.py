"""Which weights a process keeps resident: queries (and a service's) run the model as given;
an index run loads the faster copy that ``compute = "auto"`` picks, and frees it after."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.model_handle import ModelHandle
from tests.conftest import FakeEmbedder, write_files


class Loads:
    """Stands in for loading llama.cpp models: records each load and close."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.closed: list[str] = []

    def load(self, compute: str) -> FakeEmbedder:
        self.loaded.append(compute)
        embedder = FakeEmbedder()
        embedder.close = lambda: self.closed.append(compute)  # type: ignore[method-assign]
        return embedder


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Loads:
    record = Loads()
    monkeypatch.setattr(ModelHandle, "_load", lambda self, compute: record.load(compute))
    monkeypatch.setattr(ModelHandle, "spec", lambda self: None)
    return record


def handle(tmp_path: Path, compute: str = "auto") -> ModelHandle:
    settings = load_settings(index_dir=tmp_path / "idx", compute=compute)
    return ModelHandle(settings, None, None, "sha", threading.RLock())


def test_queries_run_the_model_as_given(loads: Loads, tmp_path: Path) -> None:
    handle(tmp_path).embedder.embed_queries(["q"])
    assert loads.loaded == ["model"]


def test_an_index_run_loads_the_copy_and_frees_it_after(loads: Loads, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(ModelHandle, "_bulk_path_differs", lambda self: True)
    model = handle(tmp_path)
    with model.bulk_embedder() as bulk:
        bulk.embed_documents([(None, "text")])
        assert loads.loaded == ["auto"] and loads.closed == []
    assert loads.closed == ["auto"]
    assert not model.loaded  # the resident model was never needed


@pytest.mark.parametrize(("compute", "differs"), [("auto", False), ("model", True)])
def test_without_a_copy_an_index_run_uses_the_resident_model(
        loads: Loads, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compute: str,
        differs: bool) -> None:
    monkeypatch.setattr(ModelHandle, "_bulk_path_differs", lambda self: differs)
    model = handle(tmp_path, compute)
    with model.bulk_embedder() as bulk:
        bulk.embed_documents([(None, "text")])
    assert loads.loaded == ["model"] and loads.closed == []


def test_engine_index_embeds_with_the_bulk_embedder(loads: Loads, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ModelHandle, "_bulk_path_differs", lambda self: True)
    monkeypatch.setattr(ModelHandle, "ensure", lambda self: None)
    monkeypatch.setattr(Engine, "fingerprint_for", lambda self, dims: _fingerprint(dims))
    write_files(tmp_path / "docs", {"a.md": "# A\nsome words about bread\n"})
    engine = Engine(load_settings(index_dir=tmp_path / "idx"))
    try:
        report = engine.index([tmp_path / "docs"])
    finally:
        engine.close()
    assert report.added == 1
    assert loads.loaded == ["auto"] and loads.closed == ["auto"]


def _fingerprint(dims: int):  # type: ignore[no-untyped-def]
    from gemmasearch.index import IndexFingerprint

    return IndexFingerprint(model_sha256="sha", dims=dims, prompt_format="p")
