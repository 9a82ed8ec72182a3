"""Dates for the ``--since``/``--before`` filters (stdlib only: the service's fast path uses
it too)."""

from __future__ import annotations

import re
import time
from datetime import datetime

from gemmasearch.errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*([mhdwy])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_when(value: str | None, flag: str) -> float | None:
    """``2024-05-01``, ``2024-05-01T12:00`` or a relative age like ``7d``, ``3h``, ``2w``."""
    if value is None:
        return None
    match = _RELATIVE.match(value.strip().lower())
    if match:
        return time.time() - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise UsageError(
            f"{flag}: cannot read {value!r} as a date",
            hint="use 2024-05-01, 2024-05-01T12:00, or an age like 7d, 12h, 2w") from None
