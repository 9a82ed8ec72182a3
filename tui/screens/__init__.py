"""Screens of the gemmasearch terminal UI."""

from gemmasearch.tui.screens.help import HelpScreen
from gemmasearch.tui.screens.main import MainScreen
from gemmasearch.tui.screens.welcome import WelcomeScreen

__all__ = ["HelpScreen", "MainScreen", "WelcomeScreen"]
