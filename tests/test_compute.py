"""compute = auto: which weight format runs on which llama.cpp build, the copy's cache
file, and the embedder's policy on a GPU build (the backend probe faked)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from gemmasearch import backend, compute
from gemmasearch.backend import run_policy
from gemmasearch.cli.app import app
from gemmasearch.compute import choose_compute, compute_model, copy_path
from tests.test_models import fake_gguf

AVX2 = {"SSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"}
AVX512 = AVX2 | {"AVX512"}
AVX512_BF16 = AVX512 | {"AVX512_VNNI", "AVX512_BF16"}
NEON = {"NEON", "ARM_FMA", "FP16_VA", "DOTPROD", "MATMUL_INT8"}


def test_each_cpu_class_runs_q8_0_in_its_measured_fastest_format():
    f16 = choose_compute("Q8_0", AVX2)
    assert f16.copy == "F16"
    assert f16.reason == ("F16 copy: this llama.cpp build has AVX2+F16C and no AVX512; "
                          f"F16 ran {compute.MEASURED['AVX2'].speedups['F16']:.2f}x Q8_0 "
                          "on that class")
    bf16 = choose_compute("Q8_0", AVX512_BF16)
    assert bf16.copy == "BF16" and "has AVX512_BF16; BF16 ran" in bf16.reason
    # Plain AVX-512 gets whatever measured fastest there, or Q8_0 with the figures.
    plain = choose_compute("Q8_0", AVX512)
    best, speedup = max(compute.MEASURED["AVX512"].speedups.items(), key=lambda kv: kv[1])
    assert plain.copy == (best if speedup >= compute.MIN_SPEEDUP else None)
    assert "AVX512 and no AVX512_BF16" in plain.reason


def test_avx_vnni_runs_q8_0_as_given_and_says_the_figures_are_borrowed():
    # Intel 12th gen and later: AVX2 with AVX-VNNI, no AVX-512. Q8_0's int8 kernel uses
    # vpdpbusd there, as on the AVX512 VNNI build whose ratios stand in for it.
    vnni = choose_compute("Q8_0", AVX2 | {"AVX_VNNI"})
    assert vnni.copy is None
    assert vnni.reason == ("Q8_0 as given: this llama.cpp build has AVX2 with AVX_VNNI and no "
                           "AVX512, where the AVX512 VNNI build (not this class) ran no copy "
                           "faster than Q8_0 (BF16 0.89x, F16 0.90x)")
    # AVX-VNNI alongside AVX-512 is still the AVX-512 class
    assert compute.cpu_class(AVX512 | {"AVX_VNNI"}) is compute.MEASURED["AVX512"]


def test_what_runs_as_given_says_why():
    assert choose_compute("Q8_0", AVX2, mode="model") == compute.ComputeChoice(
        None, "compute = model: the GGUF runs exactly as given")
    arm = choose_compute("Q8_0", NEON)
    assert arm.copy is None and "ARM build (NEON)" in arm.reason and "not measured" in arm.reason
    old_x86 = choose_compute("Q8_0", {"SSE3", "AVX"})
    assert old_x86.copy is None and "without AVX2+F16C" in old_x86.reason
    q4 = choose_compute("Q4_0", AVX512_BF16)
    assert q4.copy is None and q4.reason.startswith("Q4_0 runs as given")
    gpu = choose_compute("Q8_0", AVX512_BF16, gpus=("CUDA0 (NVIDIA RTX 4070)",))
    assert gpu.copy is None and "offloads every layer to CUDA0 (NVIDIA RTX 4070)" in gpu.reason


def test_an_unmeasured_speedup_below_the_threshold_makes_no_copy(monkeypatch):
    monkeypatch.setitem(compute.MEASURED, "AVX2", compute.CpuClass(
        "AVX2", "AVX2+F16C and no AVX512", {"F16": 1.02, "BF16": 0.9}))
    choice = choose_compute("Q8_0", AVX2)
    assert choice.copy is None and "BF16 0.90x, F16 1.02x" in choice.reason


def test_the_copy_is_named_per_format_and_file_version(tmp_path):
    model = fake_gguf(tmp_path / "m.gguf")
    f16, bf16 = copy_path(model, tmp_path, "F16"), copy_path(model, tmp_path, "BF16")
    assert f16.parent == tmp_path / "compute"
    assert f16.name.startswith("m.f16-") and bf16.name.startswith("m.bf16-")
    model.write_bytes(model.read_bytes() + b"\0")  # an edited model gets a new copy
    assert copy_path(model, tmp_path, "F16") != f16


def _fake_quantizer(monkeypatch: pytest.MonkeyPatch, calls: list[int]) -> None:
    import llama_cpp

    def quantize(src: bytes, dst: bytes, params) -> int:
        calls.append(params.ftype)
        Path(dst.decode()).write_bytes(b"GGUF copy")
        return 0

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", quantize)


def test_a_copy_is_written_once_and_replaces_the_models_other_copies(tmp_path, monkeypatch):
    calls: list[int] = []
    _fake_quantizer(monkeypatch, calls)
    model = fake_gguf(tmp_path / "m.gguf")
    cache = tmp_path / "cache"
    (cache / "compute").mkdir(parents=True)
    stale = [cache / "compute" / n for n in ("m.bf16-0123456789ab.gguf",  # another class
                                             "m.f16-ba9876543210.gguf")]  # an older m.gguf
    kept = [cache / "compute" / n for n in ("m.v2.f16-0123456789ab.gguf",  # another model
                                            "other.bf16-0123456789ab.gguf", "m.f16-notes.txt")]
    for path in stale + kept:
        path.write_text("x")
    made = compute_model(model, cache, AVX2)
    assert made == copy_path(model, cache, "F16") and calls == [compute.COPY_FTYPES["F16"]]
    assert compute_model(model, cache, AVX2) == made and len(calls) == 1  # once
    assert sorted(p.name for p in (cache / "compute").iterdir()) == sorted(
        [made.name] + [p.name for p in kept])
    # A GPU build or compute = model loads the file as given and writes nothing.
    assert compute_model(model, cache, AVX2, gpus=("Metal",)) == model
    assert compute_model(model, cache, AVX512_BF16, "model") == model
    assert len(calls) == 1


def test_a_build_that_runs_the_model_as_given_removes_its_old_copies(tmp_path, monkeypatch):
    calls: list[int] = []
    _fake_quantizer(monkeypatch, calls)
    model = fake_gguf(tmp_path / "m.gguf")
    cache = tmp_path / "cache"
    f16 = compute_model(model, cache, AVX2)  # an AVX2 build made a copy
    other = cache / "compute" / "other.f16-0123456789ab.gguf"
    other.write_text("x")
    assert compute_model(model, cache, AVX2, gpus=("CUDA0",)) == model  # a GPU build keeps it
    assert f16.is_file()
    # An AVX-VNNI build runs Q8_0 as given: the copy would only take space.
    assert compute_model(model, cache, AVX2 | {"AVX_VNNI"}) == model
    assert not f16.exists() and other.is_file() and len(calls) == 1


def test_a_failed_copy_falls_back_to_the_model(tmp_path, caplog):
    model = fake_gguf(tmp_path / "m.gguf")  # a valid header, no tensors: llama.cpp refuses
    assert compute_model(model, tmp_path / "cache", AVX2) == model
    assert "could not write its F16 copy" in caplog.text
    assert list((tmp_path / "cache" / "compute").glob("*")) == []  # no partial file left


# -- GPU builds --------------------------------------------------------------------------

def test_gpu_policy_is_one_context_large_batches_and_no_core_fitting():
    gpu = run_policy(("CUDA0",), max_tokens=2048, n_threads=8, workers=None,
                     batch_tokens=None, max_seqs=None, adaptive_threads=True)
    assert gpu == backend.RunPolicy(workers=1, batch_tokens=2048, max_seqs=256,
                                    adaptive_threads=False, release_logits=False)
    cpu = run_policy((), max_tokens=2048, n_threads=8, workers=None, batch_tokens=None,
                     max_seqs=None, adaptive_threads=True)
    assert cpu == backend.RunPolicy(workers=2, batch_tokens=512, max_seqs=64,
                                    adaptive_threads=True, release_logits=True)
    # What the caller asks for explicitly wins, within llama.cpp's limits.
    asked = run_policy(("Vulkan0",), max_tokens=1024, n_threads=8, workers=2,
                       batch_tokens=4096, max_seqs=999, adaptive_threads=True)
    assert (asked.workers, asked.batch_tokens, asked.max_seqs) == (2, 1024, 256)


def test_gpu_probe_names_devices_and_survives_a_missing_symbol(monkeypatch):
    cpu_only = SimpleNamespace(llama_supports_gpu_offload=lambda: False)
    assert backend.gpu_devices(cpu_only) == ()
    gpu_build = SimpleNamespace(llama_supports_gpu_offload=lambda: True)
    monkeypatch.setattr(backend, "_ggml_gpu_names", lambda: ("CUDA0 (NVIDIA H100)",))
    assert backend.gpu_devices(gpu_build) == ("CUDA0 (NVIDIA H100)",)

    def missing() -> tuple[str, ...]:
        raise AttributeError("ggml_backend_dev_count")

    monkeypatch.setattr(backend, "_ggml_gpu_names", missing)
    assert backend.gpu_devices(gpu_build) == ("a GPU",)


def test_the_real_probe_finds_no_gpu_on_a_cpu_build():
    from gemmasearch.embedder import llama_gpu_devices

    if llama_gpu_devices():
        pytest.skip("this llama-cpp-python offloads to a GPU")
    assert backend._ggml_gpu_names() == ()  # ggml lists its CPU device only


# -- model info --------------------------------------------------------------------------

@pytest.mark.parametrize(("features", "gpus", "runs", "on"), [
    (AVX2, (), "F16 copy", "CPU (AVX2 build)"),
    (AVX512_BF16, (), "BF16 copy", "CPU (AVX512_BF16 build)"),
    (NEON, (), "the GGUF as given", "CPU"),
    (AVX2, ("CUDA0 (NVIDIA RTX 4070)",), "the GGUF as given", "GPU: CUDA0 (NVIDIA RTX 4070)"),
])
def test_model_info_says_what_runs_and_why(tmp_path, monkeypatch, features, gpus, runs, on):
    import gemmasearch.embedder as embedder

    monkeypatch.setattr(embedder, "llama_build_features", lambda: set(features))
    monkeypatch.setattr(embedder, "llama_gpu_devices", lambda: gpus)
    model = fake_gguf(tmp_path / "m.gguf")
    result = CliRunner().invoke(app, ["model", "info", "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["quantization"] == "Q8_0"  # the downloaded model's, whatever runs
    assert info["runs_as"].startswith(runs) and info["runs_on"] == on
    assert info["why"] == choose_compute("Q8_0", set(features), gpus=gpus).reason
    if runs.endswith("copy"):
        assert info["runs_as"].endswith("(made on first load) for index runs")
    assert info["queries_as"] == "the GGUF as given"  # what a service keeps resident
    text = CliRunner().invoke(app, ["model", "info", "--model", str(model)]).stdout
    assert f"why:          {info['why']}" in text
