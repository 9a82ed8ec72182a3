"""Incremental bookkeeping, ignore rules and index identity, on the fake embedder."""

import os
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import IndexMismatchError, UsageError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.index import Collection
from tests.conftest import write_files

DOCS = {
    "notes/garden.md": "# Garden\n\nTomatoes need sun and water every morning.\n",
    "notes/bread.md": "# Bread\n\nSourdough starter, flour, salt and patience.\n",
    "src/util.py": "def parse_config(path):\n    return open(path).read()\n",
    "todo.txt": "buy milk\ncall the plumber about the leaking pipe\n",
}


def indexed_paths(engine: Engine) -> set[str]:
    """Files indexed (those recorded with an error, e.g. skipped, are left out)."""
    return {p for p, row in engine.reader().store.file_states().items() if row[5] is None}


def test_first_run_then_nothing_to_do(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    report = fake_engine.index([root])
    assert (report.added, report.changed, report.removed, report.unchanged) == (4, 0, 0, 0)
    assert report.summary() == "+4 new, ~0 changed, -0 removed, 0 unchanged"
    again = fake_engine.index([root])
    assert again.summary() == "+0 new, ~0 changed, -0 removed, 4 unchanged"
    assert again.chunks == 0


def test_edit_delete_add_are_reflected_exactly(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    before = fake_engine.status()["chunks"]
    (root / "todo.txt").write_text("buy oat milk\n")
    (root / "notes/bread.md").unlink()
    (root / "new.md").write_text("# New\n\nfresh content\n")
    report = fake_engine.index()  # no paths: the known roots
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 2)
    assert indexed_paths(fake_engine) == {str(root / p) for p in
                                          ["notes/garden.md", "src/util.py", "todo.txt", "new.md"]}
    assert fake_engine.status()["chunks"] == before
    assert fake_engine.check() == ([], [])
    top = fake_engine.search("oat milk")[0]
    assert top.path == str(root / "todo.txt")


def test_touch_without_content_change_is_not_re_embedded(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    target = root / "todo.txt"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = fake_engine.index([root])
    assert report.chunks == 0 and report.changed == 0 and report.unchanged == 4
    # The new mtime was recorded: the next run does not even hash it.
    row = fake_engine.reader().store.file_row(str(target))
    assert row["mtime_ns"] == target.stat().st_mtime_ns


def test_ignore_rules_and_default_excludes(fake_engine, tmp_path):
    root = write_files(tmp_path / "proj", {
        ".gitignore": "secret/\n*.log\n",
        ".gemmasearchignore": "drafts/\n",
        "keep.md": "kept",
        "secret/a.md": "hidden",
        "app.log": "log line",
        "drafts/b.md": "draft",
        "node_modules/pkg/readme.md": "dependency",
        ".git/config": "[core]",
        "venv1/pyvenv.cfg": "home = /usr",
        "venv1/lib/site.py": "x = 1",
        "image.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    })
    fake_engine.index([root])
    assert indexed_paths(fake_engine) == {str(root / "keep.md")}


def test_binary_named_txt_and_oversized_files_are_recorded_with_a_reason(tmp_path):
    root = write_files(tmp_path / "docs", {
        "fine.txt": "hello",
        "blob.txt": b"\x00\x01\x02binary\x00" * 100,
        "big.txt": "x" * 3_000_000,
    })
    engine = Engine(load_settings(index_dir=tmp_path / "idx", max_file_mb=1),
                    embedder=FakeEmbedder())
    report = engine.index([root])
    assert report.added == 1 and report.failed == 2
    failures = {Path(f["path"]).name: f["error"] for f in engine.status()["failures"]}
    assert failures["blob.txt"] == "binary content"
    assert "size limit" in failures["big.txt"]
    # Recorded failures are not retried while the file is unchanged.
    assert engine.index([root]).failed == 0
    engine.close()


def test_undecodable_bytes_are_replaced_not_fatal(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", {"latin.txt": "caf\xe9 au lait".encode("latin-1")})
    assert fake_engine.index([root]).added == 1
    assert "café" in fake_engine.search("café")[0].snippet


def test_symlink_out_of_the_root_is_not_followed(fake_engine, tmp_path):
    outside = write_files(tmp_path / "outside", {"far.md": "far away"})
    root = write_files(tmp_path / "docs", {"near.md": "close by"})
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    fake_engine.index([root])
    assert indexed_paths(fake_engine) == {str(root / "near.md")}


def test_dims_are_fixed_at_creation_and_rebuild_starts_over(tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    index_dir = tmp_path / "idx"
    engine = Engine(load_settings(index_dir=index_dir), embedder=FakeEmbedder())
    engine.index([root], dims=128)
    with pytest.raises(IndexMismatchError, match="dims 512"):
        engine.index([root], dims=512)
    # Same model, other dims: re-derived from the stored full-size vectors, no re-embedding.
    report = engine.index(rebuild=True, dims=512)
    assert report.chunks == 0 and report.unchanged == 4
    assert engine.status()["dims"] == 512
    assert engine.search("sourdough starter")[0].path.endswith("bread.md")
    engine.close()
    other_model = Engine(load_settings(index_dir=index_dir), embedder=FakeEmbedder(name="b"))
    report = other_model.index(rebuild=True)
    assert report.added == 4 and other_model.status()["model"]["name"] == "b"
    other_model.close()


def test_another_model_is_refused(tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    settings = load_settings(index_dir=tmp_path / "idx")
    Engine(settings, embedder=FakeEmbedder(name="model-a")).index([root])
    other = Engine(settings, embedder=FakeEmbedder(name="model-b"))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        other.index([root])
    with pytest.raises(IndexMismatchError):
        other.search("tomatoes")


def test_missing_root_is_a_usage_error(fake_engine, tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        fake_engine.index([tmp_path / "nope"])


def test_vectors_snapshot_heals_after_loss(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    fake_engine.close()
    for snapshot in (fake_engine.index_dir).glob("vectors.*"):
        snapshot.unlink()
    reader = Collection(fake_engine.index_dir)
    assert len(reader.vectors()) == fake_engine.status()["chunks"]
    reader.close()


def test_a_vanished_root_keeps_its_files(fake_engine, tmp_path):
    a = write_files(tmp_path / "a", {"x.md": "alpha"})
    b = write_files(tmp_path / "b", {"y.md": "beta"})
    fake_engine.index([a, b])
    b.rename(tmp_path / "b-unmounted")
    report = fake_engine.index()
    assert report.missing_roots == [str(b)] and report.removed == 0 and report.failed == 0
    assert fake_engine.status()["files"] == 2


def test_a_long_lived_reader_follows_a_dims_change(tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())
    engine.index([root], dims=768)
    reader = engine.reader()
    assert reader.vectors().dims == 768
    engine.index(dims=128, rebuild=True)
    assert engine.search("sourdough starter")[0].path.endswith("bread.md")
    assert reader.vectors().dims == 128 and len(reader.vectors()) == engine.status()["chunks"]
    engine.close()


def _paragraphs(n: int, tag: str = "") -> str:
    return "\n\n".join(
        " ".join(f"w{p}x{i}{tag if p == n - 1 else ''}" for i in range(150)) for p in range(n))


def test_an_edit_re_embeds_only_the_chunks_it_touched(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", {"long.md": _paragraphs(8)})
    first = fake_engine.index([root])
    assert first.chunks >= 3 and first.reused == 0
    embedder = fake_engine.embedder.inner
    before = embedder.tokens_embedded
    (root / "long.md").write_text(_paragraphs(8, tag="edited"))  # only the last paragraph
    report = fake_engine.index([root])
    assert report.changed == 1 and report.reused >= 2
    assert report.reused < report.chunks  # the edited chunk itself was embedded
    assert embedder.tokens_embedded - before < first.tokens / 2
    assert fake_engine.check() == ([], [])
    assert fake_engine.search("w7x3edited")[0].path == str(root / "long.md")


def test_a_copied_file_is_not_embedded_again(fake_engine, tmp_path):
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    embedder = fake_engine.embedder.inner
    before = embedder.tokens_embedded
    (root / "copy-of-garden.md").write_text(DOCS["notes/garden.md"])
    report = fake_engine.index([root])
    assert (report.added, report.reused, report.chunks) == (1, 1, 1)
    assert embedder.tokens_embedded == before
    hits = {r.path for r in fake_engine.search("tomatoes sun water", )}
    assert str(root / "copy-of-garden.md") in hits


def test_repeated_chunks_in_one_batch_are_embedded_once(fake_engine, tmp_path):
    text = "# Licence\n\nPermission is hereby granted, free of charge.\n"
    one = Engine(load_settings(index_dir=tmp_path / "one"), embedder=FakeEmbedder())
    one.index([write_files(tmp_path / "single", {"LICENSE.md": text})])
    root = write_files(tmp_path / "docs", {f"pkg{i}/LICENSE.md": text for i in range(5)})
    report = fake_engine.index([root])
    assert (report.added, report.chunks, report.reused) == (5, 5, 4)
    # same title ("Licence") and text: one prompt, embedded once
    assert fake_engine.embedder.inner.tokens_embedded == one.embedder.inner.tokens_embedded
    one.close()


def test_empty_index_is_one_error_for_search_and_similar(fake_engine, tmp_path):
    """"The index is empty" is one error type, raised in one place (Collection)."""
    from gemmasearch.errors import NoIndexError

    Collection(fake_engine.index_dir, writer="test").close()  # an index, with nothing in it
    note = tmp_path / "note.txt"
    note.write_text("hello there")
    errors = []
    for call in (lambda: fake_engine.search("hello"), lambda: fake_engine.similar(note)):
        with pytest.raises(NoIndexError) as caught:
            call()
        errors.append((type(caught.value), caught.value.message))
    assert errors[0] == errors[1] == (NoIndexError, "the index is empty")
