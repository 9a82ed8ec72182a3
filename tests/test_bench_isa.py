"""bench/isa.py: which build counts as which CPU class, when a cached build is reused, and
the table speed.py --isa prints; bench/op_profile.py on the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_bench_script, real_model_path

BENCH = Path(__file__).resolve().parent.parent / "bench"

isa = load_bench_script("isa")

AVX2_BUILD = {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "LLAMAFILE", "OPENMP"}
NATIVE_ZEN5 = AVX2_BUILD | {"AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"}


def test_a_build_counts_as_its_class_only() -> None:
    assert isa.check_llama_features("avx2", AVX2_BUILD) is None
    refused = isa.check_llama_features("avx2", NATIVE_ZEN5)
    assert refused and "AVX512 on" in refused and "AVX512_BF16 on" in refused
    assert "AVX512_BF16 on" in isa.check_llama_features("avx512", NATIVE_ZEN5)
    assert isa.check_llama_features("avx512bf16", NATIVE_ZEN5) is None
    assert "AVX512 off" in isa.check_llama_features("avx512bf16", AVX2_BUILD)
    assert isa.check_llama_features("native", AVX2_BUILD) is None


def test_the_reference_must_run_at_the_same_capability() -> None:
    assert isa.check_reference_capability("avx2", "AVX2") is None
    assert "AVX512" in isa.check_reference_capability("avx2", "AVX512")
    assert isa.check_reference_capability("native", "AVX512") is None
    assert set(isa.REFERENCE_ENV["avx2"]) == {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                               "MKL_ENABLE_INSTRUCTIONS"}


def test_a_cpu_without_the_instructions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isa, "cpu_flags", lambda: {"sse4_2", "avx", "avx2", "fma", "f16c",
                                                   "bmi2"})
    assert isa.cpu_can_run("avx2") is None
    why = isa.cpu_can_run("avx512")
    assert why and "avx512f" in why
    with pytest.raises(SystemExit, match="cannot measure the avx512 class"):
        isa.rerun_under("avx512", BENCH / "speed.py", [])


def test_a_cached_build_is_reused_only_with_the_same_flags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isa, "DEV_MODELS", tmp_path)
    monkeypatch.setattr(isa, "llama_version", lambda: "9.9.9")
    d = tmp_path / "llama-isa" / "avx2-9.9.9"
    (d / "llama_cpp").mkdir(parents=True)
    assert isa.existing_build("avx2") is None  # no BUILD.json: an interrupted build
    flags = isa.CMAKE_ARGS["avx2"].split()
    (d / "BUILD.json").write_text(json.dumps({"cmake_args": " ".join(reversed(flags))}))
    assert isa.existing_build("avx2") == d  # same flags in another order
    (d / "BUILD.json").write_text(json.dumps(
        {"cmake_args": isa.CMAKE_ARGS["avx2"].replace("-DGGML_FMA=ON", "-DGGML_FMA=OFF")}))
    assert isa.existing_build("avx2") is None
    with pytest.raises(SystemExit, match="sdist not found"):
        isa.build("avx2")  # would rebuild; the sdist is not in this cache


def test_the_table_has_a_row_per_measurement() -> None:
    results = {"docs": 50, "doc_tokens": 15435, "threads": 2, "runs": "/m/q8_0.gguf",
               "reference_tokens_per_s_batch1": 500.0, "reference_tokens_per_s_batch8": 250.0,
               "reference_tokens_per_s": 500.0, "reference_batch_size": 1,
               "ours_tokens_per_s": 750.0, "cosine_mean": 0.9996, "cosine_min": 0.9995,
               "ours_others_load": 0.1, "index_tokens_per_s": 700.0, "index_files": 50,
               "query_p50_ms": 30.0, "query_p95_ms": 40.0,
               "variants": [{"model": "/m/f16.gguf", "compute": "auto", "tokens_per_s": 600.0,
                             "query_p50_ms": 28.0, "cosine_mean": 1.0, "cosine_min": 1.0}]}
    text = isa.table("avx2", results)
    lines = text.splitlines()
    assert len(lines) == 2 + 5  # header, rule, reference, shipped, variant, index, query
    assert "| 500 / 250 | 1 |" in text
    assert "q8_0.gguf) | 750 | 1.50 | - | 0.9996 / 0.9995 | 0.1 |" in text
    assert "f16.gguf (query p50 28.0 ms) | 600 | 1.20 |" in text
    assert "at batch 1 | 700 | 1.40 |" in text


@pytest.mark.real_model
def test_op_profile_attributes_the_time_to_operations(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    model = real_model_path()
    op_profile = load_bench_script("op_profile")
    if not (op_profile.shared_dir() / "eval/nfcorpus/corpus.jsonl").is_file():
        pytest.skip("NFCorpus not found: set GEMMASEARCH_SHARED to ../shared")
    assert op_profile.main(["--model", str(model), "--docs", "3"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ops = {o["op"]: o for o in out["ops"]}
    assert any(k.startswith("MUL_MAT ffn_up") for k in ops)
    assert all(o["gflops"] > 0 for k, o in ops.items() if k.startswith("MUL_MAT"))
    assert abs(sum(o["share"] for o in out["ops"]) - 1) < 0.01
    # mat-muls are most of the work of a transformer this size
    assert sum(o["share"] for k, o in ops.items() if k.startswith("MUL_MAT")) > 0.5
