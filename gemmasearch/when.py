"""Dates for the ``--since``/``--before`` filters (stdlib only: the service's fast path uses
it too)."""

from __future__ import annotations

import math
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
    if "\x00" in value:
        raise UsageError(f"{flag}: the date holds a NUL byte")
    match = _RELATIVE.match(value.strip().lower())
    try:
        if match:
            amount = int(match.group(1)) if len(match.group(1)) < 12 else 10**12
            return check_epoch(time.time() - amount * _UNIT_SECONDS[match.group(2)], flag)
        return check_epoch(datetime.fromisoformat(value.strip()).timestamp(), flag)
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"{flag}: cannot read {value[:80]!r} as a date",
            hint="use 2024-05-01, 2024-05-01T12:00, or an age like 7d, 12h, 2w") from None


# Years 1 to 9999, the range of datetime: anything else is not a date.
EARLIEST_EPOCH = -62135596800.0
LATEST_EPOCH = 253402300799.0


def check_epoch(value: float, flag: str) -> float:
    """``value`` (epoch seconds) when it is a finite time between years 1 and 9999."""
    if not math.isfinite(value) or not EARLIEST_EPOCH <= value <= LATEST_EPOCH:
        raise UsageError(f"{flag}: {value!r} is not a time between the years 1 and 9999",
                         hint="give epoch seconds, a date like 2024-05-01 or an age like 7d")
    return float(value)
