"""Decide by content whether a file of no known type is text worth indexing.

Names decide first (gemmasearch.extract.kind_of). A file whose name says nothing —
``copyright``, ``README.Debian``, ``notes.api`` — is read for its first SNIFF_BYTES only,
so a scan stays cheap; names that are surely binary (images, archives, libraries,
bytecode...) are decided without reading at all.
"""

from __future__ import annotations

from pathlib import Path

from gemmasearch.extract import looks_binary

# Files seen but not indexed for this reason are counted, not reported as failures.
UNSUPPORTED = "unsupported type"
SNIFF_BYTES = 8192
# Above this share of bytes >= 0x80 in text that is not UTF-8, it is not a legacy 8-bit
# text file but some binary format without NULs.
MAX_HIGH_BYTES = 0.30

BINARY_EXTENSIONS = frozenset({
    # images, audio, video
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico", ".icns",
    ".heic", ".heif", ".avif", ".psd", ".xcf", ".raw", ".cr2", ".nef", ".dng",
    ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".mid",
    ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".wmv", ".webm", ".flv", ".mpg", ".mpeg",
    # archives and packages
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".lz4", ".7z", ".rar", ".tar", ".jar",
    ".war", ".whl", ".egg", ".deb", ".rpm", ".apk", ".dmg", ".iso", ".img", ".msi",
    ".cab", ".pkg", ".snap", ".appimage",
    # compiled code, libraries, databases, models
    ".so", ".dylib", ".dll", ".exe", ".o", ".a", ".lib", ".obj", ".ko", ".bin", ".elf",
    ".pyc", ".pyo", ".pyd", ".class", ".wasm", ".beam", ".sqlite", ".sqlite3", ".db",
    ".mdb", ".npy", ".npz", ".pkl", ".pickle", ".pt", ".pth", ".onnx", ".gguf",
    ".safetensors", ".h5", ".parquet", ".feather", ".arrow", ".faiss",
    # fonts and other containers
    ".ttf", ".otf", ".woff", ".woff2", ".eot", ".swf", ".blend", ".fbx", ".glb",
})


def surely_binary(path: Path) -> bool:
    """True when the name alone says the file is not text (no need to read it)."""
    return path.suffix.lower() in BINARY_EXTENSIONS


def sniff_text_kind(head: bytes) -> str | None:
    """``"text"`` when the first bytes of a file read as text, else None."""
    if not head or looks_binary(head):
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return "text"
    try:  # a multi-byte character may be cut at the end of the head
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            high = sum(1 for b in head if b >= 0x80)
            if high / len(head) > MAX_HIGH_BYTES:
                return None
    return "text"


def read_head(path: Path) -> bytes:
    """The first SNIFF_BYTES of a file. Raises OSError."""
    with open(path, "rb") as fh:
        return fh.read(SNIFF_BYTES)
