"""The first screen when the index is empty: how to add a folder, and a box to do it here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Static

from gemmasearch.report import Progress

if TYPE_CHECKING:
    from gemmasearch.tui.app import GemmasearchApp

INTRO = ("Your index is empty. Add a folder and gemmasearch will read its notes, documents, "
         "code and PDFs, so you can find them by what they mean, not only by the words "
         "they use. Everything stays on this computer.")


class WelcomeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "dismiss_welcome", "Skip", id="skip_welcome"),
    ]

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="welcome"):
            yield Static(Text("Welcome to gemmasearch", style="bold"), id="welcome-title")
            yield Static(INTRO, id="welcome-intro")
            yield Label("Folder to index:")
            with Horizontal(id="welcome-row"):
                yield Input(placeholder="e.g. ~/notes or ~/Documents", id="welcome-path")
                yield Button("Index", id="welcome-index", variant="primary")
            yield Static("", id="welcome-phase")
            bar = ProgressBar(id="welcome-progress", show_eta=False)
            bar.display = False
            yield bar
            yield Static(Text.assemble(("Or from a shell: ", "dim"),
                                       ("gemmasearch index PATH", "bold")), id="welcome-hint")
        yield Footer()

    @property
    def gs_app(self) -> GemmasearchApp:
        return self.app

    def on_mount(self) -> None:
        self.query_one("#welcome-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "welcome-index":
            self.start()

    def start(self) -> None:
        raw = self.query_one("#welcome-path", Input).value.strip()
        if not raw:
            self.app.notify("type the folder to index first", severity="warning")
            return
        path = Path(raw).expanduser()
        if not path.exists():
            self.app.notify(f"no such file or folder: {path}\ncheck the spelling",
                            severity="error")
            return
        if self.gs_app.start_index([path]):
            self.query_one("#welcome-index", Button).disabled = True
            self.query_one("#welcome-phase", Static).update(f"Indexing {path} …")
            self.query_one("#welcome-progress", ProgressBar).display = True

    def show_progress(self, progress: Progress, text: str) -> None:
        self.query_one("#welcome-phase", Static).update(text)
        bar = self.query_one("#welcome-progress", ProgressBar)
        if progress.phase == "indexing" and progress.files_total:
            bar.update(total=progress.files_total, progress=progress.files_done)

    def index_failed(self) -> None:
        self.query_one("#welcome-index", Button).disabled = False
        self.query_one("#welcome-phase", Static).update("")
        self.query_one("#welcome-progress", ProgressBar).display = False

    def action_dismiss_welcome(self) -> None:
        self.app.pop_screen()
