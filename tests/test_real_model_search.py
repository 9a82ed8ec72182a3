"""End to end on the real EmbeddingGemma GGUF: paraphrased queries find their file first,
and re-indexing reflects edits, deletions and additions exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from tests.conftest import real_model_path, write_files
from tests.pdfgen import make_pdf

pytestmark = pytest.mark.real_model

FILES = {
    "kitchen/sourdough.md": "# Sourdough\n\nFeed the starter with flour and water the night "
    "before. Knead the dough, let it rise for hours, then bake it in a hot Dutch oven until "
    "the crust is dark.\n",
    "garden/tomatoes.txt": "Tomato plants want six hours of direct sun, deep watering twice "
    "a week, and stakes once the stems get heavy with fruit.\n",
    "code/invoice.py": "VAT_RATE = 0.2\n\n\ndef invoice_total(lines):\n    \"\"\"Sum the "
    "line amounts and apply VAT.\"\"\"\n    net = sum(qty * price for qty, price in lines)\n"
    "    return round(net * (1 + VAT_RATE), 2)\n",
    "sport/marathon.md": "# Marathon plan\n\nBuild weekly mileage slowly, do one long run "
    "each Sunday, taper during the last three weeks before the 42 km race.\n",
    "security/passwords.md": "# Passwords\n\nUse a password manager, never reuse a password, "
    "and turn on two-factor authentication for email and banking.\n",
    "money/mortgage.txt": "A fixed-rate mortgage keeps the monthly repayment constant for the "
    "whole term, whatever happens to interest rates.\n",
    "code/retry.py": "import time\n\nimport requests\n\n\ndef get_with_backoff(url, tries=5):\n"
    "    delay = 0.5\n    for _ in range(tries):\n        try:\n            return "
    "requests.get(url, timeout=10)\n        except requests.ConnectionError:\n"
    "            time.sleep(delay)\n            delay *= 2\n    raise RuntimeError(url)\n",
    "health/sleep.md": "# Sleep\n\nAdults need seven to nine hours. Keep the bedroom dark and "
    "cool, and put screens away an hour before bed.\n",
    "code/quicksort.py": "def quicksort(items):\n    if len(items) <= 1:\n        return items\n"
    "    pivot, *rest = items\n    return quicksort([x for x in rest if x < pivot]) + [pivot] "
    "+ quicksort([x for x in rest if x >= pivot])\n",
    "kitchen/espresso.txt": "Espresso is brewed by forcing near-boiling water through finely "
    "ground, tightly tamped beans at nine bars of pressure.\n",
    "work/planning.md": "# Q3 planning\n\nWe agreed to ship the mobile app in September and to "
    "hire two backend engineers before then.\n",
    "pets/cat.txt": "Cats groom themselves for hours, sleep most of the day, and purr when "
    "content.\n",
}
PDF_PAGES = [
    "Field notes on geology.\nRivers carve canyons over millions of years.",
    "Volcanoes erupt when magma rises through cracks in the crust\n"
    "and pressure from dissolved gases blasts lava and ash into the air.",
]

# Paraphrases that share no content word with their target.
QUERIES = {
    "how to make leavened loaves from a fermented culture": "kitchen/sourdough.md",
    "growing red vegetables in the backyard": "garden/tomatoes.txt",
    "function adding sales tax to a bill": "code/invoice.py",
    "getting ready for a long-distance running event": "sport/marathon.md",
    "keeping online accounts safe from hackers": "security/passwords.md",
    "borrowing to buy a house with stable payments": "money/mortgage.txt",
    "wait longer between attempts when a web call fails": "code/retry.py",
    "tips for resting better at night": "health/sleep.md",
    "why molten rock bursts out of mountains": "notes/geology.pdf",
    "what did the team decide about the phone release schedule": "work/planning.md",
}


@pytest.fixture(scope="module")
def engine_and_root(tmp_path_factory) -> tuple[Engine, Path]:
    model = real_model_path()
    tmp = tmp_path_factory.mktemp("real")
    root = write_files(tmp / "docs", FILES)
    (root / "notes").mkdir()
    make_pdf(root / "notes/geology.pdf", PDF_PAGES, title="Geology notes")
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                             index_dir=tmp / "index")
    engine = Engine(settings, model=str(model))
    report = engine.index([root])
    assert report.added == len(FILES) + 1 and report.failed == 0
    yield engine, root
    engine.close()


@pytest.mark.parametrize("query", list(QUERIES))
def test_paraphrased_query_finds_its_file_first(engine_and_root, query):
    engine, root = engine_and_root
    results = engine.search(query)
    assert results, "no results"
    assert Path(results[0].path) == root / QUERIES[query], [
        (Path(r.path).name, round(r.score, 3)) for r in results[:3]]


def test_pdf_result_has_its_page(engine_and_root):
    engine, root = engine_and_root
    top = engine.search("why molten rock bursts out of mountains")[0]
    assert top.page == 2 and top.line is None


def test_reindex_reflects_edits_deletions_and_additions(engine_and_root):
    engine, root = engine_and_root
    (root / "pets/cat.txt").write_text(
        "Parrots can learn to imitate human speech and live for decades.\n")
    (root / "money/mortgage.txt").unlink()
    write_files(root, {"travel/japan.md": "# Kyoto\n\nTemples, tea houses and bamboo "
                                          "groves; take the bullet train from Tokyo.\n"})
    report = engine.index()
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert report.unchanged == len(FILES) + 1 - 2
    assert engine.search("which birds can talk like people")[0].path == str(root / "pets/cat.txt")
    assert engine.search("visiting old shrines in a former imperial capital")[0].path == str(
        root / "travel/japan.md")
    paths = {r.path for r in engine.search("home loan repayments", )}
    assert str(root / "money/mortgage.txt") not in paths
    assert engine.check() == ([], [])


def test_an_edit_re_embeds_only_the_chunk_it_touched(tmp_path: Path) -> None:
    paragraphs = [f"Section {i}. " + " ".join(f"topic{i} detail{j} about item {i}-{j}."
                                               for j in range(70)) for i in range(6)]
    root = write_files(tmp_path / "docs", {"long.md": "\n\n".join(paragraphs)})
    engine = Engine(load_settings(index_dir=tmp_path / "index"), model=str(real_model_path()))
    first = engine.index([root])
    assert first.chunks >= 3
    paragraphs[-1] = "Section 5. Octopuses have three hearts and blue copper-based blood."
    (root / "long.md").write_text("\n\n".join(paragraphs))
    again = engine.index([root])
    assert again.changed == 1 and again.reused >= 2 and again.chunks - again.reused >= 1
    top = engine.search("how many hearts does an octopus have")[0]
    assert top.path == str(root / "long.md") and "Octopuses" in top.snippet
    assert engine.check() == ([], [])
    engine.close()
