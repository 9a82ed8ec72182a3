"""Settings: platformdirs paths, the ``GEMMASEARCH_HOME`` override and a TOML config file.

Precedence for every setting: command-line flag > environment variable > config file >
default. The config file lives at ``<config dir>/config.toml``::

    model = "/path/to/embeddinggemma-300M-Q8_0.gguf"
    dims = 256
    chunk_tokens = 512
    chunk_overlap = 64
    max_file_mb = 20
    exclude = ["*.log", "archive/"]
    include = ["data/*.csv"]    # index these even if the content rules would skip them
    follow_symlinks = false
    service = true              # false: every search loads the model itself
    service_idle_minutes = 10   # an auto-started service exits when idle this long
    embedder = "http://gpu-box:8080"  # embed on a llama.cpp server ("local": here)

    [keys]            # TUI key remapping: binding id = "key[,key]"
    open = "enter,o"
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gemmasearch import locations
from gemmasearch.errors import ConfigError

VALID_DIMS = (768, 512, 256, 128)

# Folders that hold nothing a person searches for, in any project.
DEFAULT_EXCLUDES = (
    ".git/", ".hg/", ".svn/", ".bzr/", "_darcs/", ".jj/",
    "node_modules/", "bower_components/", ".venv/", "venv/", ".tox/", ".nox/",
    "__pycache__/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".cache/",
    "build/", "dist/", "target/", ".next/", ".nuxt/", ".gradle/", ".idea/", ".vscode/",
    "*.egg-info/", ".ipynb_checkpoints/", ".DS_Store",
    # Editor backups and temporary files: text, so content sniffing would index them
    # as duplicates of the real file.
    "*~", "#*#", ".#*", "*.swp", "*.swo", "*.bak", "*.orig", "*.rej", "*.tmp",
)


# How the model runs: "auto" = a Q8_0 model from the 16-bit copy measured fastest for the
# llama.cpp build's CPU class (gemmasearch.compute); "model" = the GGUF exactly as given.
COMPUTE_CHOICES = ("auto", "model")


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def default_index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"


def resolve_paths(env: dict[str, str] | None = None) -> Paths:
    config_dir, data_dir, cache_dir = locations.home_dirs(os.environ if env is None else env)
    return Paths(config_dir=Path(config_dir), data_dir=Path(data_dir),
                 cache_dir=Path(cache_dir))


@dataclass(frozen=True)
class Settings:
    paths: Paths
    index_dir: Path
    model: str | None = None  # path or None for the default Hugging Face GGUF
    dims: int = 256
    # 512 tokens including the prompt: whole paragraphs and most functions fit, the
    # attention cost stays small, and the reference model was evaluated with a 512 cap.
    chunk_tokens: int = 512
    chunk_overlap: int = 64
    max_file_mb: float = 20.0
    exclude: tuple[str, ...] = ()
    # Gitignore-style patterns of files indexed whatever gemmasearch.worth's rules say.
    include: tuple[str, ...] = ()
    follow_symlinks: bool = False
    threads: int | None = None
    compute: str = "auto"  # one of COMPUTE_CHOICES
    keys: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    service: bool = True  # searches use (and auto-start) a background service
    service_idle_minutes: float = 10.0  # an auto-started service exits after this
    # URL of an OpenAI-compatible embedding server running the same GGUF (llama-server,
    # llama_cpp.server); None: the model runs in this process (gemmasearch.remote_embedder).
    embedder: str | None = None

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the config file, the environment and ``overrides``."""
    paths = resolve_paths(env)
    env = dict(os.environ if env is None else env)
    data = locations.read_config_file(str(paths.config_file))

    index_dir = Path(data.pop("index", paths.default_index_dir)).expanduser()
    if env.get("GEMMASEARCH_INDEX"):
        index_dir = Path(env["GEMMASEARCH_INDEX"]).expanduser()
    for key in ("exclude", "include"):
        if key in data:
            data[key] = tuple(data[key])
    settings = Settings(paths=paths, index_dir=index_dir, **data)
    if env.get("GEMMASEARCH_MODEL"):
        settings = replace(settings, model=env["GEMMASEARCH_MODEL"])
    if env.get("GEMMASEARCH_EMBEDDER"):
        settings = replace(settings, embedder=env["GEMMASEARCH_EMBEDDER"])
    if env.get("GEMMASEARCH_COMPUTE"):
        settings = replace(settings, compute=env["GEMMASEARCH_COMPUTE"])
    if "index_dir" in overrides and overrides["index_dir"] is not None:
        overrides["index_dir"] = Path(overrides["index_dir"]).expanduser()
    settings = settings.with_overrides(**overrides)
    if settings.dims not in VALID_DIMS:
        raise ConfigError(
            f"dims must be one of {', '.join(map(str, VALID_DIMS))}, not {settings.dims}"
        )
    if settings.compute not in COMPUTE_CHOICES:
        raise ConfigError(f"compute must be auto or model, not {settings.compute!r}",
                          hint="auto runs Q8_0 models from an F16/BF16 copy where that is faster")
    settings = replace(settings, embedder=_embedder_url(settings.embedder))
    if not 0 <= settings.chunk_overlap < settings.chunk_tokens // 2:
        raise ConfigError("chunk_overlap must be below half of chunk_tokens")
    return settings


def _embedder_url(value: str | None) -> str | None:
    """The embedding server's URL, or None for the model in this process ("local")."""
    value = (value or "").strip()
    if value.lower() in ("", "local"):
        return None
    if not value.lower().startswith(("http://", "https://")) or len(value.split("//", 1)[1]) < 1:
        raise ConfigError(f"embedder must be an http:// or https:// URL or local, not {value!r}",
                          hint="e.g. embedder = \"http://gpu-box:8080\" (a llama-server "
                               "--embeddings running the same GGUF)")
    return value.rstrip("/")
