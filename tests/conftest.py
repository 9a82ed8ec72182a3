"""Shared fixtures: an isolated GEMMASEARCH_HOME, a fake-embedder engine, the real model."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GEMMASEARCH_SHARED", REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the developer's real index, config or model cache."""
    home = tmp_path / "home"
    monkeypatch.setenv("GEMMASEARCH_HOME", str(home))
    monkeypatch.delenv("GEMMASEARCH_INDEX", raising=False)
    # No test starts a background search service unless it asks for one (test_service*).
    monkeypatch.setenv("GEMMASEARCH_NO_SERVICE", "1")
    # Short (a socket path has a length limit) and one per test.
    monkeypatch.setenv("GEMMASEARCH_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
    if "GEMMASEARCH_MODEL" in os.environ:
        monkeypatch.delenv("GEMMASEARCH_MODEL")
    return home


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[Engine]:
    settings = load_settings(index_dir=tmp_path / "index")
    engine = Engine(settings, embedder=FakeEmbedder())
    yield engine
    engine.close()


def real_model_path(variable: str = "GEMMASEARCH_TEST_MODEL") -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_file():
        pytest.skip(f"set {variable} to an EmbeddingGemma GGUF to run the real-model tests")
    return Path(value)


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# Where the CLI builds its local Engine (common.make_engine, behind open_engine): tests swap it.
CLI_ENGINE_MODULES = ("common",)


def patch_cli_engines(monkeypatch: pytest.MonkeyPatch, make_engine: object) -> None:
    for module in CLI_ENGINE_MODULES:
        monkeypatch.setattr(f"gemmasearch.cli.{module}.make_engine", make_engine)


def fake_make_engine(index_dir: Path, embedder_factory: object = FakeEmbedder) -> object:
    """A ``make_engine`` for the CLI on a fake embedder, its index in ``index_dir`` unless
    --index says otherwise."""

    def make_engine(index, model, **settings):  # type: ignore[no-untyped-def]
        values = {k: v for k, v in settings.items() if v is not None}
        return Engine(load_settings(index_dir=index or index_dir, **values),
                      embedder=embedder_factory())  # type: ignore[operator]

    return make_engine


def load_bench_script(name: str) -> ModuleType:
    """bench/NAME.py as a module (bench/ is scripts, not a package; they import each other
    from their own folder)."""
    bench = REPO / "bench"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
