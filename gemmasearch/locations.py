"""Where gemmasearch keeps things: config, data and cache folders, the config file, the
runtime folder for service sockets. With ``os`` only, as strings.

``gemmasearch search --json`` answered by a running service (gemmasearch.cli.fast) must
find the index and the socket in a few milliseconds: platformdirs, pathlib and tomllib
cost more than the rest of that command. Linux's common cases (XDG variables, an
absolute ``$HOME``) are answered here exactly as platformdirs answers them; anything else
asks platformdirs. config.py and the service use these same functions, so the fast path
and the full CLI always agree.
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # typing itself costs the fast path 2 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

APP_NAME = "gemmasearch"

# Settings the config file may hold (config.Settings' fields; a test keeps them in step).
CONFIG_FILE_KEYS = frozenset({
    "index", "model", "dims", "chunk_tokens", "chunk_overlap", "max_file_mb", "exclude",
    "include", "follow_symlinks", "threads", "compute", "keys", "theme", "service",
    "service_idle_minutes", "embedder"})

# platformdirs' Linux defaults when the XDG variable is unset.
_XDG_DEFAULTS = {"config": ("XDG_CONFIG_HOME", "~/.config"),
                 "data": ("XDG_DATA_HOME", "~/.local/share"),
                 "cache": ("XDG_CACHE_HOME", "~/.cache")}


def _linux_user_dir(kind: str, env: Mapping[str, str]) -> str | None:
    if not sys.platform.startswith("linux") or env is not os.environ:
        return None  # platformdirs reads os.environ: so must we
    variable, default = _XDG_DEFAULTS[kind]
    path = env.get(variable, "")
    if os.path.isabs(path):
        return os.path.join(path, APP_NAME)
    if not os.path.isabs(os.environ.get("HOME", "")):
        return None  # platformdirs has its own rules for that
    return os.path.join(os.path.expanduser(default), APP_NAME)


def user_dir(kind: str, env: Mapping[str, str] = os.environ) -> str:
    """The user's ``config``, ``data`` or ``cache`` folder for gemmasearch."""
    path = _linux_user_dir(kind, env)
    if path is not None:
        return path
    import platformdirs

    return str(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def home_dirs(env: Mapping[str, str] = os.environ) -> tuple[str, str, str]:
    """(config, data, cache) folders: under ``$GEMMASEARCH_HOME`` when set."""
    home = env.get("GEMMASEARCH_HOME")
    if home:
        root = os.path.expanduser(home)
        return root, root, os.path.join(root, "cache")
    return user_dir("config", env), user_dir("data", env), user_dir("cache", env)


def read_config_file(path: str) -> dict[str, Any]:
    """The config file's settings ({} when there is none); ConfigError when unreadable or
    holding an unknown key."""
    from gemmasearch.errors import ConfigError

    if not os.path.isfile(path):
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}",
                          hint="fix or delete the file") from exc
    unknown = set(data) - CONFIG_FILE_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}",
                          hint=f"known settings: {', '.join(sorted(CONFIG_FILE_KEYS))}")
    return data


def _private_dir_problem(path: str) -> str | None:
    """What keeps ``path`` from being a private runtime folder (platformdirs' own test)."""
    try:
        info = os.lstat(path)
    except OSError:
        return f"{path} cannot be read"
    if not stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return f"{path} is not a folder"
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) != 0o700:
        return f"{path} is not private"
    return None


def runtime_base() -> str:
    """The folder for service sockets (not created or checked here: see runtime_problem)."""
    override = os.environ.get("GEMMASEARCH_RUNTIME_DIR")
    if override:
        return os.path.expanduser(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if sys.platform.startswith("linux") and os.path.isabs(xdg) and \
            _private_dir_problem(xdg) is None:
        return os.path.join(xdg, APP_NAME)
    import warnings

    import platformdirs

    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: it falls back to /tmp
        warnings.simplefilter("ignore")
        return str(platformdirs.user_runtime_dir(APP_NAME))


def runtime_problem(folder: str) -> str | None:
    """Why sockets in ``folder`` cannot be trusted (another user can reach or swap
    them), or None. ``folder`` must exist."""
    parent_path = os.path.dirname(os.path.abspath(folder))
    parent = os.stat(parent_path)
    if parent.st_uid not in (os.getuid(), 0) or (
            stat.S_IMODE(parent.st_mode) & 0o022 and not parent.st_mode & stat.S_ISVTX):
        return f"the runtime folder {parent_path} is not safe (another user can change it)"
    if os.stat(folder).st_uid != os.getuid():
        return f"the runtime folder {folder} belongs to another user"
    return None


def socket_key(index_dir: str) -> str:
    """The name a service's socket takes after its index folder (an absolute path)."""
    try:  # the C module itself: hashlib loads OpenSSL first (3 ms)
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - Python 3.12+
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return str(sha256(index_dir.encode()).hexdigest()[:16])


def absolute(path: str) -> str:
    """``~`` expanded, made absolute like pathlib's ``Path.absolute()`` (no ``..``
    resolved, no symlinks followed), so every command names an index the same way."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)
