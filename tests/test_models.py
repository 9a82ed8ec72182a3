"""Model resolution order, GGUF validation and the config file."""

import struct
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.errors import ConfigError, ModelError
from gemmasearch.gguf import read_gguf
from gemmasearch.models import file_sha256, inspect_model, resolve_model


def fake_gguf(path: Path, arch: str = "gemma-embedding", tensors=("dense_2.weight",
                                                                    "dense_3.weight")) -> Path:
    def string(s: str) -> bytes:
        return struct.pack("<Q", len(s)) + s.encode()

    kv = [("general.architecture", 8, string(arch)), ("general.file_type", 4, struct.pack("<I", 7))]
    data = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, vtype, value in kv:
        data += string(key) + struct.pack("<I", vtype) + value
    for name in tensors:
        dims_and_type = struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<IQ", 0, 0)
        data += string(name) + dims_and_type
    path.write_bytes(data)
    return path


def test_resolution_order(tmp_path, monkeypatch):
    flag, env, conf = (fake_gguf(tmp_path / f"{n}.gguf") for n in ("flag", "env", "conf"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'model = "{conf}"\n')
    monkeypatch.setenv("GEMMASEARCH_HOME", str(home))
    settings = load_settings(env={"GEMMASEARCH_HOME": str(home)})
    from_env = {"GEMMASEARCH_MODEL": str(env)}
    assert resolve_model(settings, str(flag), env=from_env).source == "--model"
    assert resolve_model(settings, None, env={"GEMMASEARCH_MODEL": str(env)}).path == env
    assert resolve_model(settings, None, env={}).source == "config file"


def test_default_model_comes_from_the_cache_only(tmp_path):
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)})
    with pytest.raises(ModelError, match="no embedding model found") as info:
        resolve_model(settings, None, env={})
    assert "gemmasearch model pull" in (info.value.hint or "")
    cached = settings.paths.models_dir / "embeddinggemma-300M-Q8_0.gguf"
    cached.parent.mkdir(parents=True)
    fake_gguf(cached)
    assert resolve_model(settings, None, env={}).path == cached


def test_gguf_validation(tmp_path):
    good = inspect_model(fake_gguf(tmp_path / "good.gguf"))
    assert good.quantization == "Q8_0" and good.has_dense_projections()
    with pytest.raises(ModelError, match="not EmbeddingGemma"):
        inspect_model(fake_gguf(tmp_path / "llama.gguf", arch="llama"))
    with pytest.raises(ModelError, match="dense_2/dense_3"):
        inspect_model(fake_gguf(tmp_path / "nodense.gguf", tensors=("token_embd.weight",)))
    (tmp_path / "junk.gguf").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable GGUF"):
        inspect_model(tmp_path / "junk.gguf")
    assert read_gguf(tmp_path / "good.gguf").tensor_names == ["dense_2.weight", "dense_3.weight"]


def test_sha256_is_cached_by_size_and_mtime(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"abc")
    first = file_sha256(f, tmp_path / "cache")
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    cache = tmp_path / "cache" / "sha256.json"
    # The second call answers from the cache (proved by planting a different value)...
    cache.write_text(cache.read_text().replace(first, "remembered"))
    assert file_sha256(f, tmp_path / "cache") == "remembered"
    # ...until the file changes.
    f.write_bytes(b"abcd")
    assert file_sha256(f, tmp_path / "cache") != "remembered"


def test_config_file_values_and_errors(tmp_path):
    (tmp_path / "config.toml").write_text("dims = 512\nchunk_tokens = 400\nexclude = ['*.bak']\n")
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)})
    assert (settings.dims, settings.chunk_tokens, settings.exclude) == (512, 400, ("*.bak",))
    assert load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)}, dims=128).dims == 128
    (tmp_path / "config.toml").write_text("dimz = 512\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)})
    (tmp_path / "config.toml").write_text("dims = [\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)})


def test_gemmasearch_home_moves_everything(tmp_path):
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path)})
    assert settings.index_dir == tmp_path / "index"
    assert settings.paths.config_file == tmp_path / "config.toml"
    assert settings.paths.models_dir.is_relative_to(tmp_path)


def test_compute_setting_is_validated(tmp_path):
    home = {"GEMMASEARCH_HOME": str(tmp_path)}
    assert load_settings(env=home).compute == "auto"
    assert load_settings(env={**home, "GEMMASEARCH_COMPUTE": "model"}).compute == "model"
    with pytest.raises(ConfigError, match="compute must be"):
        load_settings(env={**home, "GEMMASEARCH_COMPUTE": "fast"})
