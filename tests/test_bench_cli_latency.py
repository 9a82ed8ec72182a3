"""bench/cli_latency.py --against-*: each query through both installs' services, in
alternating order, compared per query as a ratio of medians."""

from __future__ import annotations

from tests.conftest import load_bench_script

cli_latency = load_bench_script("cli_latency")


def test_per_query_ratios_of_medians_alternating_order(monkeypatch) -> None:
    calls: list[tuple[str | None, tuple[str, ...]]] = []
    # This install takes 100 ms for "slow", 50 ms otherwise; the other always 80 ms, with
    # one outlier call that a median must ignore.
    def fake(env, *args, check=True, exe=None):  # type: ignore[no-untyped-def]
        calls.append((exe, args))
        if args[0] != "search":
            return 0.0, None
        if exe is None:
            return (0.100 if args[1] == "slow" else 0.050), None
        outlier = sum(1 for e, a in calls if e and a[:2] == ("search", args[1])) == 3
        return (5.0 if outlier else 0.080), None

    monkeypatch.setattr(cli_latency, "gemmasearch", fake)
    out = cli_latency.per_query({}, {"other": "1"}, "other-gs", ["slow", "fast"], rounds=4)
    assert out["ratio_max"] == 1.25 and out["queries_over_1.10"] == 1
    assert out["ratio_p50"] in (0.625, 1.25)
    searches = [exe for exe, args in calls if args[0] == "search"][1:]  # after the start-up
    assert searches[:4] == [None, "other-gs", None, "other-gs"]  # round 0: ours first
    assert searches[4:8] == ["other-gs", None, "other-gs", None]  # round 1: theirs first
    assert calls[-1] == ("other-gs", ("serve", "--stop"))  # its service is stopped after
