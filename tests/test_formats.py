"""Documents beyond text and PDF: each format's text, structure, title and anchor, through
the document worker and the indexer (fake embedder)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
import docgen  # noqa: E402

from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.extract import ANCHOR_NAMES, KINDS, anchor, extract, kind_of  # noqa: E402
from gemmasearch.search import SearchFilters, SearchOptions  # noqa: E402
from gemmasearch.tui.editor import open_command  # noqa: E402
from gemmasearch.tui.widgets.preview import build_preview  # noqa: E402
from tests.conftest import fake_make_engine, patch_cli_engines  # noqa: E402

pytest.importorskip("docx")
pytest.importorskip("pptx")

CORPUS = docgen.format_corpus()


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_each_format_extracts_text_title_and_sections(case) -> None:
    name, kind, title, where, needle, _, data = case
    assert kind_of(Path(name)) == kind and kind in KINDS
    document = extract(Path(name), data)  # through the worker process
    assert document.kind == kind
    assert document.title == title
    number = int(where.split("=")[1])
    hits = [s for s in document.segments if needle in s.text]
    assert [s.page for s in hits] == [number], [s.text for s in document.segments]


def test_office_owner_files_are_not_documents() -> None:
    assert kind_of(Path("~$report.docx")) is None
    assert kind_of(Path("report.docx")) == "docx"


def test_noise_is_left_out() -> None:
    by_name = {c[0]: c for c in CORPUS}
    html = extract(Path("a.html"), by_name["hobby.html"][6])
    text = "\n".join(s.text for s in html.segments)
    for noise in ("tracking", "color", "Home", "Site banner", "cookie"):
        assert noise not in text
    from gemmasearch.extractors.web import html_blocks

    page = ("<body><header>Site banner</header><main><article><header><h1>Post</h1></header>"
            "<p>Body</p><footer>by Ana</footer></article></main><footer>cookies</footer>")
    assert html_blocks(page)[1] == [(1, "Post"), (0, "Body"), (0, "by Ana")]
    empty_main = "<main></main><div><h2>Real</h2><p>content</p></div>"
    assert html_blocks(empty_main)[1] == [(2, "Real"), (0, "content")]
    notebook = extract(Path("a.ipynb"), by_name["housing.ipynb"][6])
    assert "OUTPUT NOISE" not in "".join(s.text for s in notebook.segments)
    docx = extract(Path("a.docx"), by_name["report.docx"][6])
    assert "Brake pads | 5000 km" in docx.segments[-1].text  # tables as rows
    pptx = extract(Path("a.pptx"), by_name["talk.pptx"][6])
    assert "Kilauea" in pptx.segments[1].text  # speaker notes
    assert pptx.segments[1].text.startswith("# Slide 2: Volcanoes")


def test_sheets_keep_row_numbers() -> None:
    data = docgen.xlsx_bytes({"One": [["a"]], "Two": [["x", 1], [None], ["y", 2.5]]})
    document = extract(Path("s.xlsx"), data)
    second = [s for s in document.segments if s.page == 2][0]
    assert second.rows and second.start_line == 0  # the sheet's name, then row 1
    assert second.text.split("\n") == ["## Sheet 2: Two", "x | 1", "", "y | 2.5"]
    ods = extract(Path("s.ods"), docgen.ods_bytes({"S": [["p", "q"], ["r", "s"]]}))
    assert ods.segments[0].text.split("\n")[1:] == ["p | q", "r | s"]


def test_non_utf8_encodings() -> None:
    page = docgen.html_bytes("Новости", [("Погода", "Завтра будет солнечно и тепло.")],
                             encoding="windows-1251")
    document = extract(Path("ru.html"), page)
    assert document.title == "Новости" and "солнечно" in document.segments[0].text
    mail = docgen.email_bytes("Réunion", "Le café est prêt à midi.", charset="iso-8859-1")
    document = extract(Path("a.eml"), mail)
    assert document.title == "Réunion" and "café est prêt" in document.segments[0].text
    raw = (b"Subject: =?iso-8859-1?q?caf=E9?= \xff\nFrom: =?utf-8?b?w6lsaXNl?= <e@x>\n"
           b"Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4")
    text = extract(Path("raw.eml"), raw).segments[0].text
    assert text.startswith("# café") and "From: élise <e@x>" in text and "Привет" in text
    unknown = mail.replace(b"iso-8859-1", b"x-no-such-charset")
    assert "caf" in extract(Path("b.eml"), unknown).segments[0].text
    html_mail = docgen.email_bytes("Menu", "Soupe à l'oignon", html=True, charset="latin-1")
    assert "Soupe à l'oignon" in extract(Path("c.eml"), html_mail).segments[0].text
    rtf = (b"{\\rtf1\\ansi\\ansicpg1251 \\'cf\\'f0\\'e8\\'e2\\'e5\\'f2 "
           b"\\'ec\\'e8\\'f0\\par}")
    assert extract(Path("r.rtf"), rtf).segments[0].text == "Привет мир"
    notebook = docgen.notebook_bytes([("markdown", "# Über Größen")])
    assert extract(Path("n.ipynb"), notebook).title == "Über Größen"


def test_anchor_names() -> None:
    assert anchor("pdf", 3, None) == "#page=3"
    assert anchor("pptx", 2, None) == "#slide=2"
    assert anchor("xlsx", 2, 40) == "#sheet=2&row=40"
    assert anchor("xlsx", 2, None) == "#sheet=2"
    assert anchor("epub", 4, None) == "#chapter=4"
    assert anchor("email", 12, None) == "#msg=12"
    assert anchor("notebook", 5, None) == "#cell=5"
    assert anchor("docx", 1, None) == "#section=1"
    assert anchor("code", None, 120) == ":120"
    assert anchor("text", None, None) == ""


def test_indexing_all_formats_records_anchors_and_filters_by_type(tmp_path: Path,
                                                                 fake_engine: Engine) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, *_, data in CORPUS:
        (docs / name).write_bytes(data)
    report = fake_engine.index([docs])
    assert report.failed == 0 and report.added == len(CORPUS)
    for name, kind, _, where, needle, _, _ in CORPUS:
        only_kind = SearchOptions(k=5, filters=SearchFilters(types=(kind,)))
        results = fake_engine.search(needle, only_kind)
        assert results and all(r.kind == kind for r in results)
        best = results[0]
        assert best.path.endswith(name) and best.anchor.startswith(where), (name, best)
        assert best.to_json()["anchor"] == best.anchor
        # The TUI preview shows that section readably, headed by what it is.
        content = build_preview(fake_engine.open_document(best.path), best, needle)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(content.renderable)
        shown = console.export_text()
        label = ANCHOR_NAMES[kind] + " " + where.split("=")[1]
        assert shown.startswith(label + " of ") and needle in " ".join(shown.split()), shown
        assert label in content.title
    mail = fake_engine.search("disk", SearchOptions(k=5, filters=SearchFilters(types=("mail",))))
    assert {Path(r.path).name for r in mail} <= {"inbox.mbox", "consulate.eml"}


def test_documents_open_in_the_system_viewer() -> None:
    env = {"EDITOR": "vim"}
    for name in ("a.docx", "b.epub", "c.mbox", "d.xlsx", "e.html"):
        assert open_command(name, 3, env=env, platform="linux").argv == ["xdg-open", name]
    assert open_command("f.py", 3, env=env, platform="linux").argv == ["vim", "+3", "f.py"]


def test_cli_prints_document_anchors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gemmasearch.cli.app import app

    patch_cli_engines(monkeypatch, fake_make_engine(tmp_path / "idx"))
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, *_, data in CORPUS:
        (docs / name).write_bytes(data)
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(docs)]).exit_code == 0
    out = runner.invoke(app, ["search", "Cast on sixty stitches", "--type", "web"]).stdout
    assert f"{docs}/hobby.html#section=2" in " ".join(out.split()).replace(" ", ""), out
    out = runner.invoke(app, ["search", "tomato soup", "--type", "excel", "--json"]).stdout
    top = json.loads(out)[0]
    assert (top["anchor"], top["page"], top["line"]) == ("#sheet=2&row=3", 2, 3)


def test_documents_chunk_at_their_headings_and_keep_code_cells_whole() -> None:
    from gemmasearch.chunking import chunk_document
    from gemmasearch.document import Document, Segment

    def count(text: str) -> int:
        return len(text.split())

    body = " ".join(["word"] * 60)
    chapter = Segment(text=f"# Chapter\n\n{body}\n\n## Part two\n\n{body}", page=3)
    chunks = chunk_document(Document(Path("b.epub"), "epub", "t", [chapter]), count, 100)
    assert [c.text.split("\n")[0] for c in chunks] == ["# Chapter", "## Part two"]
    assert {c.page for c in chunks} == {3} and chunks[0].start_line is None
    cell = Segment(text="```python\n# load the data\n\nx = 1\n```", page=2)
    chunks = chunk_document(Document(Path("n.ipynb"), "notebook", "t", [cell]), count, 100)
    assert len(chunks) == 1 and chunks[0].text == cell.text


def test_docx_comments_are_read() -> None:
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("The travel budget grows next year.")
    document.add_comment(paragraph.runs, text="Check the hotel costs", author="Ana")
    out = io.BytesIO()
    document.save(out)
    segments = extract(Path("c.docx"), out.getvalue()).segments
    assert segments[-1].text == "# Comments\n\nAna: Check the hotel costs"


def test_docx_text_boxes_read_once_and_deletions_skipped() -> None:
    import zipfile

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    mc = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    box = "<w:txbxContent><w:p><w:r><w:t>boxed words</w:t></w:r></w:p></w:txbxContent>"
    xml = (f'<w:document {w} {mc}><w:body><w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr>'
           "<w:r><w:t>Heading by outline level</w:t></w:r></w:p><w:p><w:r><w:t>kept "
           "</w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"
           f"<w:r><mc:AlternateContent><mc:Choice>{box}</mc:Choice><mc:Fallback>{box}"
           "</mc:Fallback></mc:AlternateContent></w:r></w:p></w:body></w:document>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", xml)
    document = extract(Path("t.docx"), out.getvalue())
    assert document.title == "Heading by outline level"
    assert document.segments[0].text == "# Heading by outline level\n\nkept boxed words"


def test_a_mailbox_at_the_cap_is_read_in_full() -> None:
    from gemmasearch.extractors.mail import MAX_MESSAGES

    data = b"".join(b"From a@b Mon Mar  2 09:15:00 2026\nSubject: =?utf-8?q?n=C2=BA_%d?=\n"
                    b"From: a@b\n\nbody %d\nFrom a line inside a paragraph\n\n" % (i, i)
                    for i in range(MAX_MESSAGES))
    document = extract(Path("big.mbox"), data)
    assert len(document.segments) == MAX_MESSAGES
    assert document.segments[-1].text.startswith(f"# nº {MAX_MESSAGES - 1}\n")


def test_results_list_labels() -> None:
    from gemmasearch.tui.format import location

    assert location(None, 4, "pdf") == "p.4"
    assert location(None, 2, "pptx") == "slide 2"
    assert location(3, 2, "xlsx") == "sheet 2:3"
    assert location(None, 7, "email") == "msg 7"
    assert location(None, 5, "notebook") == "cell 5"
    assert location(None, 3, "epub") == "ch.3"
    assert location(None, 2, "docx") == "§2"
    assert location(12, None, "code") == "12"
