"""Query time: embed the query, search FAISS inside the filters, re-score, shape results."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gemmasearch.embedding import Embedder
from gemmasearch.evidence import Evidence, SpelledName, query_evidence, rare_limit
from gemmasearch.extract import CODE_EXTENSIONS, anchor, decode_text
from gemmasearch.filters import TYPE_ALIASES, AllowLists, allowed_chunk_ids
from gemmasearch.fusion import FusionConfig, Legs, fuse
from gemmasearch.index import Collection, fts
from gemmasearch.lexical import ParsedQuery
from gemmasearch.lexical_leg import lexical_leg, lexical_visibility, narrow, score_semantic_top
from gemmasearch.snippets import file_line_offset, snippets_for

log = logging.getLogger(__name__)

# Candidates taken from the truncated index before the full-size re-scoring.
RESCORE_CANDIDATES = 100
# The lexical leg's depth, and how deep the semantic top gets BM25 looked up.
LEXICAL_CANDIDATES = 100
TEXT_KINDS = frozenset({"text", "markdown", "code"})  # files whose bytes are their text


def snippet_file_line(row: Mapping[str, Any], offset: int,
                      file_lines: dict[str, list[str] | None] | None = None) -> int | None:
    """The file line of line ``offset`` of a chunk. Chunk text collapses runs of blank lines
    and cuts long lines, so where its lines are not the file's one for one, the file is read
    to find the line (the chunk's own arithmetic when the file changed or is not text)."""
    start, end, text = row["start_line"], row["end_line"], row["text"]
    if start is None:
        return None
    if end is None or end - start == text.count("\n") or row["kind"] not in TEXT_KINDS:
        return start + offset
    # ``file_lines``: a cache for one result list, so a file with several hits is read once.
    cache = {} if file_lines is None else file_lines
    if row["path"] not in cache:
        try:
            data = Path(row["path"]).read_bytes()
        except OSError:
            cache[row["path"]] = None
        else:
            cache[row["path"]] = (decode_text(data).replace("\r\n", "\n")
                                  .replace("\r", "\n").split("\n"))
    lines = cache[row["path"]]
    if lines is None:
        return start + offset
    found = file_line_offset(text, offset, lines[start - 1:end])
    return start + (offset if found is None else found)

# How deep the semantic top is looked at for the query's rare terms (gemmasearch.evidence).
EVIDENCE_DEPTH = 10
# Document frequencies past this many chunks are estimated (fts.document_frequency): a
# term that common is no rare term, and its IDF is small.
EXACT_FREQUENCY_MAX = 20_000


@dataclass(frozen=True)
class SearchFilters:
    """Applied inside the vector search (an allow-list of chunk ids), never after top-k."""

    paths: tuple[str, ...] = ()  # globs on the absolute path
    types: tuple[str, ...] = ()  # kinds (markdown, text, code, pdf) or extensions (py, rs)
    since: float | None = None  # modified at or after (epoch seconds)
    before: float | None = None  # modified before

    def active(self) -> bool:
        return bool(self.paths or self.types or self.since is not None
                    or self.before is not None)


@dataclass
class SearchResult:
    path: str
    score: float
    line: int | None
    page: int | None
    snippet: str
    start_line: int | None
    end_line: int | None
    kind: str
    title: str
    chunk_id: int
    text: str = field(repr=False, default="")
    other_chunks: int = 0  # with --per-file: further matching chunks in the same file
    anchor: str = ""  # "#page=3", "#slide=2", "#msg=14", ":120": where search points
    explain: dict[str, Any] | None = None

    def to_json(self, with_text: bool = False) -> dict[str, Any]:
        # Shallow: asdict's deep copy of every field was a tenth of a served search.
        data = {name: getattr(self, name) for name in _RESULT_FIELDS}
        if not with_text:
            data.pop("text")
        if self.explain is None:
            data.pop("explain")
        data["score"] = round(self.score, 4)
        return data


_RESULT_FIELDS = tuple(f.name for f in fields(SearchResult))


def targets_code(filters: SearchFilters) -> bool:
    """Whether every ``--type`` names code (the kind or a code extension): such searches
    embed the query with the model's code-retrieval prompt."""
    if not filters.types:
        return False
    for raw in filters.types:
        t = TYPE_ALIASES.get(raw.lower().lstrip("."), raw.lower().lstrip("."))
        if t != "code" and f".{t}" not in CODE_EXTENSIONS:
            return False
    return True


# Which automatic task prompts are on (bench/fusion.py --prompts search,auto measured each;
# docs/search-quality.md): "code" for a sentence-long query over an index that is mostly
# code (+1.1% nDCG@10 on docstring queries, but -1.2% on two-word name queries, which keep
# the search prompt); "question" for queries written as questions lost on the multilingual
# set (0.9834 against 0.9881), so it is off.
AUTO_TASKS: tuple[str, ...] = ("code",)
CODE_INDEX_SHARE = 0.5
CODE_QUERY_WORDS = 4  # shorter queries are names and keywords: the search prompt
_QUESTION_WORDS = frozenset(
    "how what why when where which who whom whose can could does do did is are was were "
    "should will would may might".split())


def looks_like_question(text: str) -> bool:
    """A query written as a question: ends with "?" or starts with a question word."""
    words = text.strip().split(maxsplit=1)
    return bool(words) and (text.rstrip().endswith(("?", "？", "؟"))
                            or words[0].lower().strip("¿¡") in _QUESTION_WORDS)


@dataclass(frozen=True)
class SearchOptions:
    k: int = 10
    filters: SearchFilters = SearchFilters()
    files_only: bool = False  # one result per file (its best chunk)
    rescore: bool = True  # Matryoshka second stage at full dims
    explain: bool = False
    mode: str = "hybrid"


def _wanted(options: SearchOptions) -> int:
    """Chunks to rank: grouping by file needs more chunks than results."""
    return options.k * (8 if options.files_only else 1)


class Searcher:
    def __init__(self, collection: Collection, embedder: Embedder,
                 fusion: FusionConfig = FusionConfig()) -> None:
        self.collection = collection
        self.embedder = embedder
        self.fusion = fusion
        # Document frequencies of query terms, valid for one state of the index.
        self._frequencies: dict[str, int] = {}
        self._frequencies_version: tuple[int, int] | None = None
        self._waiting: bool | None = None
        self._code_share: tuple[int, float] | None = None
        self._allow_lists = AllowLists()

    def query_vector(self, query: str, parsed: ParsedQuery, options: SearchOptions,
                     task: str) -> np.ndarray | None:
        """The query's embedding with the prompt of ``task`` (query_task; None in lexical
        mode). Needs no collection: callers that share one between threads embed outside
        their lock."""
        from gemmasearch.api.fields import check_mode

        check_mode(options.mode)  # the one rule, also for callers of this API
        if options.mode == "lexical":
            return None
        # Semantic mode has no operators: it embeds the query as typed.
        text = query if options.mode == "semantic" else (parsed.text or query)
        return self.embedder.embed_queries([text], task)[0]

    def query_task(self, parsed: ParsedQuery, options: SearchOptions) -> str:
        """The model's task prompt for this query (bench/fusion.py --prompts auto): code
        retrieval when the search is restricted to code, or when a sentence-long query
        searches an index that is mostly code; search result otherwise (AUTO_TASKS)."""
        if targets_code(options.filters):
            return "code"
        if ("code" in AUTO_TASKS and len(parsed.text.split()) >= CODE_QUERY_WORDS
                and self.code_share() >= CODE_INDEX_SHARE):
            return "code"
        if "question" in AUTO_TASKS and looks_like_question(parsed.text):
            return "question"
        return "search"

    def code_share(self) -> float:
        """Share of the index's chunks that are code (cached until the index changes)."""
        store = self.collection.store
        version = store.data_version()
        if self._code_share is None or self._code_share[0] != version:
            self._code_share = (version, store.code_chunk_share())
        return self._code_share[1]

    def search_parsed(self, query: str, parsed: ParsedQuery, query_vector: np.ndarray | None,
                      options: SearchOptions) -> list[SearchResult]:
        legs = self.collect_legs(parsed, query_vector, options)
        wanted = _wanted(options)
        if options.mode == "hybrid" and legs.lexical:
            ids, scores = fuse(legs, self.fusion)
        elif options.mode == "lexical":
            ids, scores = legs.ranked(legs.lexical)
        else:
            ids, scores = legs.ranked(legs.dense)
        explain = legs.explain(ids) if options.explain else {}
        return self._results(query, parsed, ids[:wanted * 4], scores[:wanted * 4], options,
                             explain)

    def collect_legs(self, parsed: ParsedQuery, query_vector: np.ndarray | None,
                     options: SearchOptions) -> Legs:
        """Both legs' candidates and scores, everything a fusion needs (bench/fusion.py
        compares fusions on these)."""
        self.collection.refresh()
        allowed = (allowed_chunk_ids(self.collection, options.filters, self._allow_lists)
                   if options.filters.active() else None)
        if options.mode != "semantic":
            allowed = narrow(self.collection, parsed, allowed,
                             lambda: self._allow_lists.every_chunk_id(self.collection))
        n_candidates = max(_wanted(options), RESCORE_CANDIDATES)
        legs = Legs()
        ranked: str | None = None
        if options.mode != "lexical":
            assert query_vector is not None
            self._dense_leg(query_vector, n_candidates, allowed, options.rescore, legs)
        candidates_by = None
        if options.mode == "hybrid" and self.fusion.evidence:
            legs.evidence = self.evidence(parsed, legs)
            # Chunks waiting for vectors are found by their words only: then all words count.
            if self.fusion.words_only_with_evidence and not self.any_waiting():
                if legs.evidence.strength == 0:
                    # The words have nothing to vouch for: meaning alone ranks this query,
                    # and the FTS work (most of a hybrid search's time on a large index) is
                    # skipped.
                    return legs
                if self.fusion.candidates_by_evidence:
                    candidates_by = legs.evidence.carriers(parsed)
        if options.mode != "semantic":
            # A fixed depth, whatever k: the lexical leg proposes its best few, so the
            # fusion behaves the same for a top-10 search and for a long list.
            ranked = lexical_leg(self.collection, parsed, LEXICAL_CANDIDATES, allowed, legs,
                                 self.matches, candidates_by)
        if options.mode == "hybrid" and legs.lexical:
            assert query_vector is not None
            self._complete(parsed, query_vector, options.rescore, legs, ranked)
            if legs.evidence is not None and legs.evidence.name is not None:
                self._named(legs.evidence.name, legs)
        return legs

    # -- the legs -----------------------------------------------------------------------

    def _dense_leg(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None,
                   rescore: bool, legs: Legs) -> None:
        scores, ids = self.collection.search_vectors(query_vector, n, allowed)
        legs.truncated = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        legs.dense = dict(legs.truncated)
        if rescore and len(ids) and self.collection.dims < self.collection.full_dims:
            found, full = self.collection.rescore(query_vector, ids)
            legs.full = dict(zip(found.tolist(), full.tolist(), strict=True))
            legs.dense = dict(legs.full)

    def _complete(self, parsed: ParsedQuery, query_vector: np.ndarray, rescore: bool,
                  legs: Legs, ranked: str | None) -> None:
        """Score every candidate on both legs, so fusion compares like with like."""
        lexical_only = [cid for cid in legs.lexical if cid not in legs.dense]
        if lexical_only:
            dims = None if rescore else self.collection.dims  # the same scale as the dense leg
            found, cosines = self.collection.rescore(query_vector, np.array(lexical_only), dims)
            legs.dense.update(zip(found.tolist(), cosines.tolist(), strict=True))
            # No vector yet (written with its words, waiting): fusion gives it a stand-in.
            legs.pending = {cid for cid in lexical_only if cid not in legs.dense}
        score_semantic_top(self.collection, ranked, LEXICAL_CANDIDATES, legs)
        legs.visible = lexical_visibility(self.collection, parsed.text, legs)

    def _index_state(self) -> None:
        """Forget what was counted for an earlier state of the index."""
        store = self.collection.store
        version = (store.data_version(), store.generation())
        if version != self._frequencies_version:
            self._frequencies = {}
            self._waiting = None
            self._frequencies_version = version

    def matches(self, phrase: str) -> int:
        """How many chunks match ``phrase`` (quoted, as FTS5 reads it), exactly: the lexical
        leg's pruning asks again and again for the same phrases."""
        return self._counted(phrase, lambda conn: fts.phrase_matches(conn, phrase))

    def document_frequency(self, term: str, exact_max: int) -> int:
        """Chunks that contain ``term``, exact up to ``exact_max`` (fts.document_frequency:
        past it, the evidence only needs to know the term is not rare, and its IDF roughly)."""
        return self._counted(f"\0df\0{term.lower()}", lambda conn: fts.document_frequency(
            conn, fts.quote(term), exact_max))

    def _counted(self, key: str, count: Callable[[Any], int]) -> int:
        """``count(conn)``, once per state of the index (a common word's count walks a
        long doclist)."""
        self._index_state()
        if key not in self._frequencies:
            self._frequencies[key] = count(self.collection.store.conn)
        return self._frequencies[key]

    def any_waiting(self) -> bool:
        """Whether some chunk waits for its vector (counted once per state of the index:
        two counts over a million rows are tens of milliseconds)."""
        self._index_state()
        if self._waiting is None:
            self._waiting = self.collection.any_waiting()
        return self._waiting

    def evidence(self, parsed: ParsedQuery, legs: Legs) -> Evidence:
        """What the query's words can add here: exact names, phrases, and rare terms (IDF in
        this index) that the semantic leg's top already contains."""
        store = self.collection.store
        n_chunks = len(self.collection.vectors())

        def frequency(term: str) -> int:  # (counted as first typed: FTS5 folds case)
            return self.document_frequency(term, max(rare_limit(n_chunks) + 1,
                                                     EXACT_FREQUENCY_MAX))

        top = sorted(legs.dense, key=legs.dense.__getitem__, reverse=True)[:EVIDENCE_DEPTH]

        def in_semantic_top(term: str) -> bool:  # asked only of rare terms (evidence.py)
            return fts.contains(store.conn, term, top)

        def name_in_semantic_top(name: SpelledName) -> str | None:
            rows = store.chunk_rows(top)
            return next((found for cid in top if cid in rows
                         if (found := name.find(rows[cid]["text"]))), None)

        return query_evidence(parsed.text, parsed, n_chunks, frequency, in_semantic_top,
                              name_in_semantic_top)

    def _named(self, name: SpelledName, legs: Legs) -> None:
        """The candidates that contain the identifier the query's words spell."""
        rows = self.collection.store.chunk_rows(sorted(set(legs.dense) | set(legs.lexical)))
        legs.named = {cid for cid, row in rows.items() if name.find(row["text"])}

    def _results(self, query: str, parsed: ParsedQuery, ids: np.ndarray, scores: np.ndarray,
                 options: SearchOptions, explain: dict[int, dict[str, Any]]
                 ) -> list[SearchResult]:
        return build_results(self.collection, ids, scores, options, parsed,
                             explain if options.explain else None)


def build_results(collection: Collection, ids: np.ndarray, scores: np.ndarray,
                  options: SearchOptions, query: str | ParsedQuery,
                  explain: dict[int, dict[str, Any]] | None = None) -> list[SearchResult]:
    """Results for ranked chunk ids: a snippet line chosen by ``query``'s words (the first
    line of content for an empty query), ``options.k`` of them, one per file with
    ``files_only`` (counting the file's other chunks)."""
    rows = collection.store.chunk_rows(ids.tolist())
    chosen: list[tuple[int, float, dict[str, Any]]] = []
    others: dict[str, int] = {}  # with files_only: a listed file's further chunks
    for cid, score in zip(ids.tolist(), scores.tolist(), strict=True):
        row = rows.get(cid)
        if row is None:  # deleted since the vector snapshot; refresh() catches up
            continue
        if options.files_only and row["path"] in others:
            others[row["path"]] += 1
            continue
        if len(chosen) >= options.k:
            if options.files_only:
                continue  # keep counting other chunks of files already listed
            break
        chosen.append((cid, score, row))
        others[row["path"]] = 0
    snippets = snippets_for([row["text"] for _cid, _score, row in chosen], query)
    results: list[SearchResult] = []
    file_lines: dict[str, list[str] | None] = {}
    for (cid, score, row), (offset, snippet) in zip(chosen, snippets, strict=True):
        line = snippet_file_line(row, offset, file_lines)
        result = SearchResult(
            path=row["path"], score=float(score), line=line, page=row["page"],
            snippet=snippet, start_line=row["start_line"], end_line=row["end_line"],
            kind=row["kind"] or "text", title=row["title"] or "", chunk_id=cid,
            text=row["text"], explain=explain.get(cid) if explain is not None else None,
            other_chunks=others[row["path"]] if options.files_only else 0)
        result.anchor = anchor(result.kind, result.page, line)
        results.append(result)
    return results
