"""CPU policy without a model: build features, the OpenMP wait policy, free-core sharing."""

from __future__ import annotations

import pytest

from gemmasearch import cpu
from gemmasearch.cpu import CpuShare, build_features, configure_openmp, parse_proc_stat

SYSTEM_INFO = ("CPU : SSE3 = 1 | AVX = 1 | AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 0 | "
               "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")


def test_build_features_lists_only_what_is_on() -> None:
    features = build_features(SYSTEM_INFO)
    assert {"SSE3", "AVX512_BF16", "OPENMP", "REPACK"} <= features
    assert "AMX_INT8" not in features and "CPU" not in features


def test_openmp_spins_briefly_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    configure_openmp()
    import os

    assert os.environ["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    configure_openmp()
    assert "GOMP_SPINCOUNT" not in os.environ


class FakeProc:
    """/proc/stat as (normal-priority busy CPU-seconds, niced busy CPU-seconds, own
    CPU-seconds) under a fake clock."""

    def __init__(self, self_niced: bool = False) -> None:
        self.now = 0.0
        self.busy = 0.0
        self.niced = 0.0
        self.own = 0.0
        self.available = True
        self.self_niced = self_niced

    def read(self) -> tuple[float, float, float] | None:
        return (self.busy, self.niced, self.own) if self.available else None

    def run(self, seconds: float, others: float, own: float = 0.0, niced: float = 0.0
            ) -> None:
        self.now += seconds
        self.busy += others * seconds
        self.niced += niced * seconds
        if self.self_niced:
            self.niced += own * seconds
        else:
            self.busy += own * seconds
        self.own += own * seconds


def share(proc: FakeProc, nice_is_free: bool | None = None) -> CpuShare:
    return CpuShare(min_interval=0.2, reader=proc.read, clock=lambda: proc.now,
                    nice_is_free=nice_is_free, self_niced=lambda: proc.self_niced)


def test_all_threads_when_the_others_are_idle() -> None:
    proc = FakeProc()
    s = share(proc)
    proc.run(1.0, others=0.1, own=2.0)  # our own threads' time never counts against us
    assert s.threads(2) == 2


def test_fewer_threads_while_other_processes_are_busy() -> None:
    proc = FakeProc()
    s = share(proc)
    proc.run(1.0, others=2.0)
    assert s.threads(2) == 1  # never below one
    proc.run(1.0, others=1.0)
    assert s.threads(8) == 7
    proc.run(1.0, others=0.0)
    assert s.threads(8) == 8


def test_samples_too_close_together_reuse_the_last_answer() -> None:
    proc = FakeProc()
    s = share(proc)
    proc.run(1.0, others=1.0)
    assert s.threads(4) == 3
    proc.run(0.05, others=0.0)  # below /proc/stat's useful resolution
    assert s.threads(4) == 3
    proc.run(0.5, others=0.0)
    assert s.threads(4) == 4


def test_without_proc_stat_every_thread_is_used() -> None:
    proc = FakeProc()
    proc.available = False
    s = share(proc)
    proc.run(1.0, others=4.0)
    assert s.threads(4) == 4


# /proc/stat's first line with a nice-19 loop on one of two cores for 1 s (100 Hz ticks).
PROC_STAT = "cpu  200 100 30 170 0 0 0 0 0 0"


def test_proc_stat_reads_the_nice_column_apart() -> None:
    normal, niced = parse_proc_stat(PROC_STAT, 100) or (0, 0)
    assert normal == pytest.approx(2.3) and niced == pytest.approx(1.0)
    assert parse_proc_stat("intr 1 2 3", 100) is None


def test_a_foreground_index_takes_the_cores_niced_work_uses() -> None:
    proc = FakeProc()
    s = share(proc, nice_is_free=True)
    proc.run(1.0, others=0.0, niced=1.0, own=1.0)
    assert s.threads(2) == 2
    proc.run(1.0, others=1.0, niced=1.0)  # normal-priority work still takes its core
    assert s.threads(2) == 1


def test_watch_and_serve_stay_polite_to_niced_work() -> None:
    proc = FakeProc()
    s = share(proc, nice_is_free=False)
    proc.run(1.0, others=0.0, niced=1.0, own=1.0)
    assert s.threads(2) == 1


def test_the_process_wide_switch_decides_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = FakeProc()
    s = share(proc)
    monkeypatch.setattr(cpu, "_niced_work_is_free", False)
    proc.run(1.0, others=0.0, niced=1.0)
    assert s.threads(2) == 1
    cpu.treat_niced_work_as_free(True)
    assert s.threads(2) == 2


def test_our_own_time_is_not_counted_when_we_run_niced() -> None:
    proc = FakeProc(self_niced=True)
    s = share(proc, nice_is_free=False)
    proc.run(1.0, others=0.0, own=2.0)  # our time sits in the nice column
    assert s.threads(2) == 2
