"""CPU policy without a model: build features, the OpenMP wait policy, free-core sharing."""

from __future__ import annotations

import pytest

from gemmasearch.cpu import CpuShare, build_features, configure_openmp

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
    """/proc/stat as (machine busy CPU-seconds, own CPU-seconds) under a fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.busy = 0.0
        self.own = 0.0
        self.available = True

    def read(self) -> tuple[float, float] | None:
        return (self.busy, self.own) if self.available else None

    def run(self, seconds: float, others: float, own: float = 0.0) -> None:
        self.now += seconds
        self.busy += (others + own) * seconds
        self.own += own * seconds


def share(proc: FakeProc) -> CpuShare:
    return CpuShare(min_interval=0.2, reader=proc.read, clock=lambda: proc.now)


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
