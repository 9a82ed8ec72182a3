"""On the real model: the content rules keep bundles, search indexes and drawings' paths
out of the embedded tokens, a book page's code listing is found as code, and
`index --plan`'s token estimate is within 25% of what the run embeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.search import SearchOptions
from gemmasearch.worth import DATA_FILE, DRAWING, MINIFIED
from tests.conftest import real_model_path, write_files
from tests.test_html_code import RUST_BOOK_PAGE
from tests.test_worth import MINIFIED_JS, SVG_WITH_TEXT, SVG_WITHOUT_TEXT

pytestmark = pytest.mark.real_model

FOLDER = {
    "book/ch16-03-shared-state.html": RUST_BOOK_PAGE,
    "book/highlight-abc7f01d.js": MINIFIED_JS,
    "book/searchindex-6a1da8cc.js": 'Object.assign(window.search, {"doc_urls":["a"]});\n',
    "book/img/trpl04-01.svg": SVG_WITH_TEXT,
    "book/img/does_not_compile.svg": SVG_WITHOUT_TEXT,
    "notes/sourdough.md": "# Sourdough\n\nFeed the starter with flour and water the night "
                          "before, let the dough rise for hours, then bake it hot.\n",
    "src/retry.py": "def retry(call, attempts=3):\n    \"\"\"Call again after a failure, "
                    "waiting longer each time.\"\"\"\n    for n in range(attempts):\n"
                    "        try:\n            return call()\n        except OSError:\n"
                    "            time.sleep(2 ** n)\n",
}


def test_rules_plan_and_code_listings_on_the_real_model(tmp_path: Path) -> None:
    root = write_files(tmp_path / "folder", FOLDER)
    engine = Engine(load_settings(index_dir=tmp_path / "index"), model=str(real_model_path()))
    try:
        plan = engine.plan([root])
        report = engine.index([root])
        assert report.skipped == {MINIFIED: 1, DATA_FILE: 1, DRAWING: 1}
        assert report.added == 4 and report.failed == 0
        assert abs(plan.tokens - report.embedded_tokens) <= 0.25 * report.embedded_tokens, (
            plan.tokens, report.embedded_tokens)
        top = engine.search("compiler error: Rc cannot be sent between threads safely",
                            SearchOptions(k=3))[0]
        assert top.path == str(root / "book/ch16-03-shared-state.html")
        assert "\n" in top.text and "```" in top.text
        drawing = engine.search("diagram of ptr len for a string", SearchOptions(k=3))
        assert str(root / "book/img/trpl04-01.svg") in [r.path for r in drawing]
    finally:
        engine.close()


CHAPTER_TEXT = (
    "<p>Ownership is a set of rules that govern how a Rust program manages memory. Some "
    "languages have garbage collection that regularly looks for no-longer-used memory as the "
    "program runs; in other languages, the programmer must explicitly allocate and free the "
    "memory. Rust uses a third approach: memory is managed through a system of ownership "
    "with a set of rules that the compiler checks. If any of the rules are violated, the "
    "program will not compile. None of the features of ownership will slow down your "
    "program while it is running.</p>\n")


def _page(title: str, body: str) -> str:
    return (f"<html><head><title>{title}</title></head><body><main>{body}</main>"
            "</body></html>\n")


def test_a_whole_book_page_shares_its_chapters_vectors(tmp_path: Path) -> None:
    root = write_files(tmp_path / "book", {
        "ch04-01-what-is-ownership.html": _page(
            "What is Ownership? - The Rust Programming Language",
            "<h1>What is Ownership?</h1>\n" + CHAPTER_TEXT),
        "print.html": _page("The Rust Programming Language",
                            "<h1>What is Ownership?</h1>\n" + CHAPTER_TEXT)})
    engine = Engine(load_settings(index_dir=tmp_path / "index"), model=str(real_model_path()))
    try:
        report = engine.index([root])
        assert report.added == 2 and report.embedded_chunks == 1 and report.reused == 1
        found = engine.search("how does Rust manage memory without a garbage collector",
                              SearchOptions(k=2))
        assert {Path(r.path).name for r in found} == {"ch04-01-what-is-ownership.html",
                                                      "print.html"}
        assert found[0].score == found[1].score  # one vector, shared
    finally:
        engine.close()
