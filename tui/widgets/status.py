"""The one-line status bar: index size (and the files searchable by their words only, for
now), model state, watch state, indexing progress."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from gemmasearch.tui.format import humanize


class StatusBar(Widget):
    files: reactive[int | None] = reactive(None)
    chunks: reactive[int] = reactive(0)
    lexical_only: reactive[int] = reactive(0)  # files whose vectors are not embedded yet
    model_state: reactive[str] = reactive("loading")  # loading, ready, error, none
    model_name: reactive[str] = reactive("")
    dims: reactive[int | None] = reactive(None)
    watch_on: reactive[bool] = reactive(False)
    watch_queued: reactive[int] = reactive(0)
    progress: reactive[str] = reactive("")  # non-empty while indexing
    results: reactive[str] = reactive("")  # e.g. "8 results"

    COMPONENT_CLASSES = {"status--busy", "status--error", "status--dim", "status--sep"}

    def render(self) -> Text:
        style = self.get_component_rich_style
        busy, error, dim = style("status--busy"), style("status--error"), style("status--dim")
        out = Text(no_wrap=True, overflow="ellipsis")
        sep = (" │ ", style("status--sep"))
        if self.progress:
            out.append("⟳ ", busy)
            out.append(self.progress, busy)
            out.append(*sep)
        if self.files is None:
            out.append("index …")
        else:
            out.append(f"{humanize(self.files)} files · {humanize(self.chunks)} chunks")
            if self.lexical_only:
                out.append(f" · {humanize(self.lexical_only)} by words only", busy)
        out.append(*sep)
        if self.model_state == "loading":
            out.append("model loading…", busy)
        elif self.model_state == "error":
            out.append("no model", error)
        else:
            name = self.model_name.removesuffix(".gguf") or "model"
            out.append(name)
        if self.dims:
            out.append(f" {self.dims}d")
        out.append(*sep)
        if self.watch_on:
            out.append("watch on")
            if self.watch_queued:
                out.append(f", {self.watch_queued} queued", busy)
        else:
            out.append("watch off", dim)
        if self.results:
            out.append(*sep)
            out.append(self.results)
        return out
