"""``?``: every key (as remapped by the config file) and how filters work."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS_HELP = (  # one paragraph: it wraps to the width of the window
    "Letters (q ? f r s j k /) act in the results and the preview; in the query box they "
    "are typed, and the ^ and f1 keys act. ↓ moves from the query into the results (↑ on "
    "the first one goes back); Enter opens the highlighted result from either.")
FILTER_HELP = """\
Filters (^f, or f in the results): a path glob like *.md, notes/** or */src/*, and types:
markdown, text, code, pdf, docx, pptx, xlsx, odt, html, epub, email, notebook, rtf
or extensions like py, rs. Separate several with commas.
Remap keys in config.toml under [keys], e.g.  open = "enter,o"  (binding id = keys)."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q,f1", "close", "Close", id="close_help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self._content(), id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "gemmasearch · keys"

    def _content(self) -> Group:
        keymap = getattr(self.app, "_keymap", {}) or {}
        table = Table(box=None, show_header=True, header_style="bold", expand=True,
                      padding=(0, 1))
        table.add_column("keys", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim", no_wrap=True)
        seen: set[str] = set()
        # The app that opened this screen (GemmasearchApp: importing it here would be a circle).
        for binding in getattr(type(self.app), "all_bindings", list)():
            if not binding.id or binding.id in seen:
                continue
            seen.add(binding.id)
            keys = keymap.get(binding.id, binding.key)
            shown = ", ".join(self.app.get_key_display(Binding(k.strip(), ""))
                              for k in keys.split(",") if k.strip())
            table.add_row(shown, binding.description or binding.action.replace("_", " "),
                          binding.id)
        return Group(Text(KEYS_HELP), Text(""), table, Text(""),
                     Text(FILTER_HELP, style="dim"))

    def action_close(self) -> None:
        self.dismiss()
