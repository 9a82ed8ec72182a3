"""What the CPU and the llama.cpp build can do, and how many cores are free right now.

Everything here is measured policy (bench/speed.py, figures in the README):
- OpenMP threads spin briefly at barriers instead of sleeping at once: with sleeping
  barriers (OMP_WAIT_POLICY=PASSIVE) a query took 40-44 ms instead of 16-20 ms.
- Spinning while another process keeps the cores busy is much worse (each barrier waits
  for a pre-empted partner: query p95 336 ms), so every llama.cpp call first asks
  ``CpuShare`` how many cores the rest of the machine leaves free and uses only those
  (p95 71 ms); one thread has no barriers at all.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

# ~0.1 ms of spinning before an OpenMP thread sleeps: long enough to span the gap
# between two graph nodes, short enough that idle threads cost nothing.
OPENMP_SPIN_COUNT = "10000"


def configure_openmp() -> None:
    """Set the OpenMP wait policy before llama.cpp's runtime loads, unless the user did."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT


def physical_cores() -> int:
    """CPUs this process may run on, counting SMT siblings once."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus:
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        try:
            path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
            cores.add(Path(path).read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def build_features(system_info: str) -> set[str]:
    """Feature names that llama.cpp's system info reports as on (``AVX512_BF16 = 1``)."""
    features = set()
    for part in system_info.split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            features.add(name)
    return features


# Set by a foreground `gemmasearch index`: CPU time of niced processes (the kernel gives
# their cores to us at once) counts as free. `watch` and `serve` leave it off: they stay
# out of the way of everything else, niced work included.
_niced_work_is_free = False


def treat_niced_work_as_free(on: bool = True) -> None:
    """A foreground run takes the cores that only niced or idle-class work is using."""
    global _niced_work_is_free
    _niced_work_is_free = on


def parse_proc_stat(first_line: str, hz: float) -> tuple[float, float] | None:
    """(CPU-seconds at normal priority, CPU-seconds of niced processes) of the whole
    machine from /proc/stat's ``cpu`` line: user nice system idle iowait irq softirq steal
    (guest time is already inside user and nice)."""
    fields = first_line.split()
    if len(fields) < 5 or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]
    ticks += [0] * (8 - len(ticks))
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + system + irq + softirq + steal) / hz, nice / hz


def _read_proc_stat() -> tuple[float, float, float] | None:
    """(normal-priority busy CPU-seconds of the machine, niced busy CPU-seconds, this
    process's CPU-seconds), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            line = f.readline()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parsed = parse_proc_stat(line, hz)
    if parsed is None:
        return None
    own = os.times()
    return parsed[0], parsed[1], own.user + own.system


def _self_niced() -> bool:
    """True when this process runs niced: its own CPU time is then in the nice column."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0) > 0
    except (AttributeError, OSError):
        return False


class CpuShare:
    """Cores the rest of the machine leaves free, from /proc/stat between two calls.

    ``threads(limit)`` returns ``limit`` when others are idle and fewer when they keep
    cores busy (never below 1). Samples closer together than ``min_interval`` reuse the
    previous answer: /proc/stat counts in 10 ms ticks. Where /proc/stat is missing
    (macOS, Windows) it always answers ``limit``.

    Niced processes count as busy unless ``nice_is_free`` (default: whether this process
    is a foreground index, ``treat_niced_work_as_free``): a nice-19 loop gets ~1.5% of a
    core beside a nice-0 thread, so our barrier partners are not pre-empted by it and the
    spinning protection is not needed against it.
    """

    def __init__(self, min_interval: float = 0.2,
                 reader: Callable[[], tuple[float, float, float] | None] = _read_proc_stat,
                 clock: Callable[[], float] = time.monotonic,
                 nice_is_free: bool | None = None,
                 self_niced: Callable[[], bool] = _self_niced) -> None:
        self.min_interval = min_interval
        self.nice_is_free = nice_is_free
        self._reader = reader
        self._clock = clock
        self._self_niced = self_niced
        self._lock = threading.Lock()
        self._last = (clock(), reader())
        self._others = (0.0, 0.0)  # cores' worth used by others: normal priority, niced

    def _niced_free(self) -> bool:
        return _niced_work_is_free if self.nice_is_free is None else self.nice_is_free

    def others_busy(self) -> float:
        """Cores' worth of CPU time other processes used since the previous sample
        (niced ones left out when they count as free)."""
        with self._lock:
            now, sample = self._clock(), self._reader()
            then, before = self._last
            if sample is None or before is None:
                return 0.0
            elapsed = now - then
            if elapsed >= self.min_interval:
                normal, niced, own = (b - a for a, b in zip(before, sample, strict=True))
                if self._self_niced():
                    niced -= own
                else:
                    normal -= own
                self._others = (max(0.0, normal / elapsed), max(0.0, niced / elapsed))
                self._last = (now, sample)
            normal_busy, niced_busy = self._others
            return normal_busy if self._niced_free() else normal_busy + niced_busy

    def threads(self, limit: int) -> int:
        # Another process using half a core or more takes that core from us.
        return max(1, limit - int(self.others_busy() + 0.5))
