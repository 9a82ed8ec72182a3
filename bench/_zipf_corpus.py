"""Generated files with realistic word statistics for the scale benchmarks: a Zipfian
vocabulary (rank r drawn with probability ~ 1/r^1.07, like English), Markdown notes, plain
text and Python files in nested folders, modification times spread over five years.

Deterministic: the same arguments give the same files, so a second run reuses them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

VOCABULARY = 60_000
ZIPF_S = 1.07
AREAS = 20  # top folders: a --path filter on one keeps ~1/20 of the files
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "ven", "dor", "pal", "quo", "ber",
             "sen", "tri", "gla", "mon", "fel", "ix", "ar", "ul", "zo", "pe", "hab", "cen"]
FIVE_YEARS = 5 * 365 * 86400


def vocabulary(n: int = VOCABULARY, seed: int = 7) -> list[str]:
    """``n`` distinct pseudo-words; the most frequent (lowest ranks) are the shortest."""
    rng = np.random.default_rng(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        length = 1 + min(4, int(np.log10(len(words) + 10)) - 1 + int(rng.integers(0, 2)))
        word = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_probabilities(n: int = VOCABULARY) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** ZIPF_S
    return p / p.sum()


class Writer:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.words = np.array(vocabulary())
        self.cdf = np.cumsum(zipf_probabilities())

    def sentence_block(self, n_words: int) -> str:
        ranks = np.searchsorted(self.cdf, self.rng.random(n_words))
        ranks = np.minimum(ranks, len(self.words) - 1)
        text = self.words[ranks]
        # sentences of 8-20 words
        out, i = [], 0
        while i < n_words:
            j = i + int(self.rng.integers(8, 21))
            part = text[i:j]
            out.append(part[0].capitalize() + " " + " ".join(part[1:]) + ".")
            i = j
        return " ".join(out)

    def markdown(self, sections: int) -> str:
        parts = [f"# {self.sentence_block(4)[:-1]}\n"]
        for _ in range(sections):
            parts.append(f"## {self.sentence_block(3)[:-1]}\n")
            for _ in range(int(self.rng.integers(2, 5))):
                parts.append(self.sentence_block(int(self.rng.integers(40, 120))) + "\n")
        return "\n".join(parts)

    def python(self, functions: int) -> str:
        parts = []
        for f in range(functions):
            name = "_".join(self.sentence_block(2)[:-1].lower().split())
            doc = self.sentence_block(int(self.rng.integers(15, 40)))
            body = "\n".join(f"    {w.lower()}_{k} = {k} * value  # {self.sentence_block(5)}"
                             for k, w in enumerate(self.sentence_block(12).split()[:8]))
            parts.append(f"def {name}_{f}(value):\n    \"\"\"{doc}\"\"\"\n{body}\n"
                         f"    return value\n")
        return "\n\n".join(parts)


def file_plan(n_files: int, seed: int) -> list[tuple[str, str, int]]:
    """(relative path, kind, size) per file: 60% Markdown, 20% text, 20% Python; sizes
    (sections or functions) mostly small with a long tail."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["md", "txt", "py"], n_files, p=[0.6, 0.2, 0.2])
    sizes = np.minimum(1 + rng.geometric(0.09, n_files), 60)
    plan = []
    for i in range(n_files):
        area = i % AREAS
        project = (i // AREAS) % 50
        plan.append((f"area{area}/project{project}/f{i}.{kinds[i]}", str(kinds[i]),
                     int(sizes[i])))
    return plan


def generate(root: Path, n_files: int, seed: int = 1, now: float | None = None) -> Path:
    """Write the corpus under ``root`` (skipped when a previous run wrote the same one)."""
    marker = root / ".corpus.json"
    spec = {"files": n_files, "seed": seed, "version": 1}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return root
    writer = Writer(seed)
    rng = np.random.default_rng(seed + 1)
    stamp = now if now is not None else 1.78e9
    for rel, kind, size in file_plan(n_files, seed):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "py":
            text = writer.python(max(1, size // 2))
        elif kind == "md":
            text = writer.markdown(size)
        else:
            text = "\n\n".join(writer.sentence_block(int(rng.integers(60, 160)))
                               for _ in range(size * 2))
        path.write_text(text, encoding="utf-8")
        mtime = stamp - float(rng.random()) ** 2 * FIVE_YEARS  # more recent files than old
        os.utime(path, (mtime, mtime))
    marker.write_text(json.dumps(spec))
    return root
