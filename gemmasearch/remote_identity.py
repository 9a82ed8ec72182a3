"""Which model an embedding server stands in for: the probe texts and their reference
vectors (``data/probe.npz``), and the identity a verified server records in an index."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmasearch.embedding import format_document, format_query, l2_normalize
from gemmasearch.errors import ModelError

if TYPE_CHECKING:
    from gemmasearch.remote_embedder import RemoteEmbedder

PROBE_FILE = Path(__file__).with_name("data") / "probe.npz"
# Mean cosine of the probe vectors to the reference: Q8_0 0.9996+, F16/F32 ~1.0, Q6_K 0.997,
# Q4_K_M 0.98, Q4_0 0.95 (issue 10's table), any other model far lower.
PROBE_MIN_COSINE = 0.999


@functools.lru_cache(maxsize=1)
def probe_set() -> tuple[list[str], np.ndarray]:
    """The formatted probe texts and their reference vectors (float32, unit rows)."""
    with np.load(PROBE_FILE) as z:
        texts = [format_query(str(q)) for q in z["queries"]]
        texts += [format_document(None, str(d)) for d in z["documents"]]
        vectors = np.vstack([z["query_vectors"], z["document_vectors"]]).astype(np.float32)
    return texts, l2_normalize(vectors)


# GGUF types whose vectors match the reference as closely as the probe demands.
FAITHFUL_TYPES = ("Q8_0", "F16", "BF16", "F32")


def remote_identity(settings: Any, model_flag: str | None) -> tuple[str, str]:
    """The model identity (sha256, file name) an index records for a verified server.

    The probe showed the server computes EmbeddingGemma-300M's vectors at Q8_0 precision or
    better, so it stands in for the model configured here when that one is as faithful (an
    index built here and one built remotely then accept each other); with no such model
    here, for the default download (the pinned Q8_0)."""
    from gemmasearch.models import (
        DEFAULT_FILE,
        DEFAULT_SHA256,
        file_sha256,
        inspect_model,
        resolve_model,
    )

    try:
        spec = resolve_model(settings, model_flag)
        if inspect_model(spec.path).quantization in FAITHFUL_TYPES:
            return file_sha256(spec.path, settings.paths.cache_dir), spec.path.name
    except (ModelError, OSError):
        pass
    return DEFAULT_SHA256, DEFAULT_FILE


def remote_model_info(embedder: RemoteEmbedder, sha256: str) -> dict[str, Any]:
    """``gemmasearch model info`` for a server (verified first)."""

    cosine = embedder.verify()
    return {"embedder": embedder.url, "name": embedder.name,
            "server_model": embedder.server_model, "source": "embedding server",
            "verified": f"probe cosine {cosine:.5f} to EmbeddingGemma-300M (>= "
                        f"{PROBE_MIN_COSINE} needed)",
            "runs_as": f"remote, on {embedder.url}", "sha256": sha256}
