"""Which stored vector a chunk may take instead of being embedded.

``input_key``: what an embedding depends on besides the model (the index is tied to one
model), the document prompt as embedded: the same title and text anywhere in the index (an
edited file's unchanged chunks, a copied file) is the same vector. ``text_key``: the text
alone, for long chunks that another file holds under another title.
"""

from __future__ import annotations

import hashlib

from gemmasearch.embedding import format_document

# A chunk at least this long whose text was embedded under another title (a chapter inside
# a whole-book page such as mdBook's print.html) takes that vector: its text outweighs the
# title (cosine 0.94-0.98 between the two on the Rust book; docs/content-rules.md).
MIN_SHARED_TOKENS = 64


def text_key(text: str) -> bytes:
    """The chunk text alone, for sharing a vector across titles."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16,
                           person=b"chunk-text").digest()


def input_key(title: str | None, text: str) -> bytes:
    """The document prompt as embedded."""
    return hashlib.blake2b(format_document(title, text).encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()
