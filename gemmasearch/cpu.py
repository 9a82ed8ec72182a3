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


def _read_proc_stat() -> tuple[float, float] | None:
    """(busy CPU-seconds of the whole machine, this process's CPU-seconds), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    own = os.times()
    return busy / hz, own.user + own.system


class CpuShare:
    """Cores the rest of the machine leaves free, from /proc/stat between two calls.

    ``threads(limit)`` returns ``limit`` when others are idle and fewer when they keep
    cores busy (never below 1). Samples closer together than ``min_interval`` reuse the
    previous answer: /proc/stat counts in 10 ms ticks. Where /proc/stat is missing
    (macOS, Windows) it always answers ``limit``.
    """

    def __init__(self, min_interval: float = 0.2,
                 reader: Callable[[], tuple[float, float] | None] = _read_proc_stat,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._reader = reader
        self._clock = clock
        self._lock = threading.Lock()
        self._last = (clock(), reader())
        self._others_busy = 0.0

    def others_busy(self) -> float:
        """Cores' worth of CPU time other processes used since the previous sample."""
        with self._lock:
            now, sample = self._clock(), self._reader()
            then, before = self._last
            if sample is None or before is None:
                return 0.0
            elapsed = now - then
            if elapsed >= self.min_interval:
                busy = (sample[0] - before[0]) - (sample[1] - before[1])
                self._others_busy = max(0.0, busy / elapsed)
                self._last = (now, sample)
            return self._others_busy

    def threads(self, limit: int) -> int:
        # Another process using half a core or more takes that core from us.
        return max(1, limit - int(self.others_busy() + 0.5))
