from pathlib import Path

import pytest

from gemmasearch.chunking import chunk_document
from gemmasearch.document import Document, Segment
from gemmasearch.extract import extract
from gemmasearch.fake_embedder import FakeEmbedder

count = FakeEmbedder().count_tokens


def doc(text: str, kind: str = "markdown") -> Document:
    return Document(path=Path("x.md"), kind=kind, title="x", segments=[Segment(text)])


def test_small_document_is_one_chunk_with_its_line_range():
    chunks = chunk_document(doc("# Title\n\nHello world.\nSecond line.\n"), count, 100)
    assert len(chunks) == 1
    assert chunks[0].start_line == 1 and chunks[0].end_line == 4
    assert "Second line." in chunks[0].text


def test_every_chunk_fits_the_budget_and_lines_map_back():
    lines = [f"line {i} " + "word " * (i % 17) for i in range(1, 400)]
    text = "\n".join(lines)
    chunks = chunk_document(doc(text, "text"), count, 60, overlap=10)
    assert len(chunks) > 5
    for c in chunks:
        assert c.tokens <= 60 and count(c.text) == c.tokens
        first = c.text.split("\n")[0]
        assert lines[c.start_line - 1] == first
        assert lines[c.end_line - 1] == c.text.split("\n")[-1]
    # Nothing lost: every line is in some chunk.
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    assert covered == set(range(1, 400))


def test_consecutive_chunks_overlap():
    text = "\n".join(f"sentence number {i} here." for i in range(200))
    chunks = chunk_document(doc(text, "text"), count, 50, overlap=12)
    assert all(b.start_line <= a.end_line for a, b in zip(chunks, chunks[1:], strict=False))


def test_fenced_code_block_stays_whole_when_it_fits():
    body = "\n".join(f"x{i} = {i}" for i in range(10))
    text = "intro paragraph here\n\n```python\n" + body + "\n\nmore = 1\n```\n\nafter"
    chunks = chunk_document(doc(text), count, 80)
    holding = [c for c in chunks if "```python" in c.text]
    assert len(holding) == 1 and "more = 1" in holding[0].text


def test_markdown_heading_starts_a_new_chunk_when_the_current_one_is_full_enough():
    section = "word " * 30
    text = f"# A\n\n{section}\n\n# B\n\n{section}\n"
    chunks = chunk_document(doc(text), count, 60)
    assert [c.text.split("\n")[0] for c in chunks] == ["# A", "# B"]


def test_a_single_giant_line_is_cut_not_truncated():
    text = "alpha " * 1000
    chunks = chunk_document(doc(text, "text"), count, 100)
    assert all(c.tokens <= 100 for c in chunks)
    assert sum(c.text.count("alpha") for c in chunks) == 1000
    assert all(c.start_line == 1 for c in chunks)


def test_pdf_pages_keep_page_numbers():
    document = Document(Path("a.pdf"), "pdf", "a", [Segment("page one text", page=1),
                                                    Segment("page two text", page=2)])
    chunks = chunk_document(document, count, 100)
    assert [c.page for c in chunks] == [1, 2]
    assert all(c.start_line is None for c in chunks)


def test_empty_document_has_no_chunks():
    assert chunk_document(doc(""), count, 100) == []


def test_tiny_budget_is_refused():
    with pytest.raises(ValueError):
        chunk_document(doc("x"), count, 4)


def test_markdown_title_comes_from_first_heading():
    d = extract(Path("notes.md"), b"intro\n\n## The Real Title\n\ntext")
    assert d.title == "The Real Title"
    assert extract(Path("notes.txt"), b"plain").title == "notes.txt"
