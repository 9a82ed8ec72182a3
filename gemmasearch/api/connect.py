"""``connect``: the engine a front end holds for its whole run, asked once.

The rules: the service is used unless it is switched off (``service = false`` in the
config, $GEMMASEARCH_NO_SERVICE, ``--no-service``); the CLI's searches start one when
none runs (``autostart``); a writing command (index, watch, check --repair, status)
passes ``use_service=True``: a running service holds the writer lock whether or not
searches may use it, so the run is handed to it, or it is stopped first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gemmasearch.api.engine import SearchEngine
    from gemmasearch.config import Settings
    from gemmasearch.engine import Engine


def connect(settings: Settings, *, model: str | None = None, embedder: str | None = None,
            autostart: bool = False, use_service: bool | None = None,
            local: Callable[[], Engine] | None = None) -> SearchEngine:
    """A RemoteEngine (the service, falling back to this process when it goes away) or an
    Engine (this process). ``use_service``: None follows the settings, True always, False
    never; ``embedder`` is the --embedder flag, passed to a service this starts; ``local``
    makes this process's Engine (default: one for ``settings`` and ``model``)."""
    from gemmasearch.service.client import disabled

    if use_service is None:
        use_service = not disabled(settings.service)
    if local is None:
        def local() -> Engine:
            from gemmasearch.engine import Engine

            return Engine(settings, model=model)
    if not use_service:
        return local()
    from gemmasearch.service.remote import RemoteEngine

    return RemoteEngine(settings, model=model, embedder=embedder, autostart=autostart,
                        local=local)
