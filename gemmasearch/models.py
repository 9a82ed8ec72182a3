"""Which embedding model to use, where it comes from, and what it is.

Resolution order: ``--model PATH`` > ``GEMMASEARCH_MODEL`` > the config file's ``model`` >
the default GGUF from Hugging Face, downloaded once by ``gemmasearch model pull`` (or the
first ``index``) into the cache. ``search`` never downloads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gemmasearch.config import Settings
from gemmasearch.errors import ModelError
from gemmasearch.gguf import GGUFInfo, read_gguf
from gemmasearch.index.private import open_private, private_dir

log = logging.getLogger(__name__)

DEFAULT_REPO = "ggml-org/embeddinggemma-300M-GGUF"
DEFAULT_FILE = "embeddinggemma-300M-Q8_0.gguf"
# Pinned: the re-upload that added the Dense projection tensors (llama.cpp issue #18677);
# the files before it gave wrong vectors, and a later push must not change the model.
DEFAULT_REVISION = "0f741b5a6585bd53aeb15cd1372c56f2a0f65e12"
DEFAULT_SHA256 = "b5ce9d77a3fc4b3b39ccb5643c36777911cc4eb46a66962eadfa3f5f60490d63"
DEFAULT_SIZE = 333_590_944
EXPECTED_ARCHITECTURE = "gemma-embedding"
# One short look at the hub before downloading: offline, huggingface_hub would retry
# for about 24 s, logging every attempt.
HUB_PROBE_SECONDS = 5.0


def get_model_hint(settings: Settings | None = None) -> str:
    """Every way to give a model, then the download."""
    config = settings.paths.config_file if settings else "the config file"
    return ("give a local EmbeddingGemma GGUF with --model PATH, GEMMASEARCH_MODEL=PATH or "
            f'model = "PATH" in {config}; or download the default once (needs network): '
            "gemmasearch model pull")


GET_MODEL_HINT = get_model_hint()

QUANT_TYPES = {"q4_0": 2, "q8_0": 7, "q4_k_m": 15, "q5_k_m": 17, "f16": 1}


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    source: str  # "--model", "GEMMASEARCH_MODEL", "config file", "default (cache)"


def default_model_path(settings: Settings) -> Path:
    return settings.paths.models_dir / DEFAULT_FILE


def resolve_model(settings: Settings, flag: str | None = None,
                  env: dict[str, str] | None = None) -> ModelSpec:
    """Find the model file without touching the network. Raises ModelError."""
    env = dict(os.environ if env is None else env)
    if flag:
        spec = ModelSpec(Path(flag).expanduser(), "--model")
    elif env.get("GEMMASEARCH_MODEL"):
        spec = ModelSpec(Path(env["GEMMASEARCH_MODEL"]).expanduser(), "GEMMASEARCH_MODEL")
    elif settings.model:
        spec = ModelSpec(Path(settings.model).expanduser(), "config file")
    else:
        path = default_model_path(settings)
        if not path.is_file():
            raise ModelError("no embedding model found", hint=get_model_hint(settings))
        return ModelSpec(path, "default (cache)")
    if not spec.path.is_file():
        raise ModelError(f"model file not found: {spec.path} (from {spec.source})",
                         hint=get_model_hint(settings))
    return spec


def inspect_model(path: Path) -> GGUFInfo:
    """Read and validate the GGUF header. Raises ModelError with a hint."""
    try:
        info = read_gguf(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable GGUF model: {exc}",
                         hint=GET_MODEL_HINT) from exc
    if info.architecture != EXPECTED_ARCHITECTURE:
        raise ModelError(
            f"{path.name} is a {info.architecture} model, not EmbeddingGemma",
            hint=GET_MODEL_HINT)
    if not info.has_dense_projections():
        raise ModelError(
            f"{path.name} lacks EmbeddingGemma's dense_2/dense_3 projection layers, "
            "so its vectors would be wrong",
            hint="convert with --sentence-transformers-dense-modules, or use the default model")
    return info


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so a 300 MB hash runs once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = cache_dir / "sha256.json" if cache_dir else None
    known: dict[str, str] = {}
    if cache_file and cache_file.is_file():
        try:
            known = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            known = {}
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    value = digest.hexdigest()
    if cache_file:
        try:
            private_dir(cache_file.parent)
            known[key] = value
            tmp = cache_file.with_suffix(".tmp")
            with os.fdopen(open_private(tmp), "w", encoding="utf-8") as fh:
                fh.write(json.dumps(known))
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a cache, nothing more
    return value


def pull_default_model(settings: Settings) -> Path:
    """Download the default GGUF once (with a progress bar), checking size and sha256.
    Without a network it fails at once, naming every way to give a model instead."""
    target = default_model_path(settings)
    if target.is_file() and file_sha256(target, settings.paths.cache_dir) == DEFAULT_SHA256:
        return target
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelError("huggingface_hub is not installed",
                         hint=get_model_hint(settings)) from exc
    _probe_hub(settings)
    private_dir(target.parent)
    try:
        with _hub_warnings_silenced():
            downloaded = Path(hf_hub_download(DEFAULT_REPO, DEFAULT_FILE,
                                              revision=DEFAULT_REVISION,
                                              local_dir=target.parent))
    except Exception as exc:  # noqa: BLE001 - network, HTTP, disk: one line either way
        raise ModelError(
            f"could not download {DEFAULT_REPO}/{DEFAULT_FILE}: {_reason(exc)}",
            hint=get_model_hint(settings)) from exc
    size = downloaded.stat().st_size
    digest = file_sha256(downloaded, settings.paths.cache_dir)
    if size != DEFAULT_SIZE or digest != DEFAULT_SHA256:
        downloaded.unlink(missing_ok=True)
        raise ModelError(f"the download of {DEFAULT_FILE} is damaged ({size:,} bytes, "
                         f"sha256 {digest[:12]}…)",
                         hint="run `gemmasearch model pull` again")
    return downloaded


def _reason(exc: BaseException) -> str:
    """The innermost cause, in one line (the hub's errors nest the useful part)."""
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None or isinstance(inner, ModelError):  # not the download's own chain
            break
        exc = inner
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _probe_hub(settings: Settings) -> None:
    """One short HEAD of the pinned file, without retries: fail fast when offline
    (HF_HUB_OFFLINE set, no network, hub unreachable)."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
    if offline:
        raise ModelError("cannot download the default model: HF_HUB_OFFLINE is set",
                         hint=get_model_hint(settings))
    url = hf_hub_url(DEFAULT_REPO, DEFAULT_FILE, revision=DEFAULT_REVISION)
    try:
        with _hub_warnings_silenced():
            get_hf_file_metadata(url, timeout=HUB_PROBE_SECONDS)
    except HfHubHTTPError as exc:  # the hub answered: say what it said
        raise ModelError(f"{urlsplit(url).netloc} refused {DEFAULT_REPO}/{DEFAULT_FILE}: "
                         f"{_reason(exc)}", hint=get_model_hint(settings)) from exc
    except Exception as exc:  # noqa: BLE001 - DNS, connect, TLS, timeout: all "unreachable"
        raise ModelError(f"cannot download the default model: {urlsplit(url).netloc} cannot "
                         f"be reached ({_reason(exc)})",
                         hint=get_model_hint(settings)) from exc


@contextmanager
def _hub_warnings_silenced() -> Iterator[None]:
    """huggingface_hub logs each retry at WARNING through its own handler (and again
    through ours): errors come back as one ModelError instead. --verbose shows them."""
    hub = logging.getLogger("huggingface_hub")
    previous = hub.level
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(previous)


def quantize(source: Path, target: Path, qtype: str, threads: int = 0) -> Path:
    """Write a quantized copy of an f32/f16 GGUF with llama.cpp's quantizer."""
    if qtype not in QUANT_TYPES:
        raise ModelError(f"unknown quantization {qtype!r}",
                         hint=f"choose one of {', '.join(QUANT_TYPES)}")
    info = inspect_model(source)
    if info.quantization not in ("F32", "F16", "BF16"):
        raise ModelError(f"{source.name} is already {info.quantization}",
                         hint="quantize from an f32 or f16 GGUF")
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[qtype]
    params.nthread = threads
    private_dir(target.parent)
    tmp = target.with_name(target.name + ".tmp")
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
    if status != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ModelError(f"quantization to {qtype} failed (status {status})")
    os.replace(tmp, target)
    return target
