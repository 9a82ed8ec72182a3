"""The light ``search --json`` path (gemmasearch.cli.fast + service.wire + locations): it
prints exactly what the full CLI prints, reads search's options as typer does, finds the
same folders as platformdirs and imports only what it must."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmasearch import locations
from gemmasearch.cli import fast
from gemmasearch.engine import Engine
from gemmasearch.service import wire
from tests.test_service import DOCS, Running, start_service, write_files


@pytest.fixture
def served(fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Running]:
    root = write_files(tmp_path / "docs", {**DOCS, "notes/ünïcode.md": "# Brot\nMehl, "
                                           "Wasser und \"Sauerteig\" \\ Backofen.\n"})
    fake_engine.index([root])
    running = start_service(fake_engine)
    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    yield running
    running.stop()


@pytest.mark.parametrize("args", [
    ["flour"],
    ["flour water", "-k", "2"],
    ["flour", "-k2", "--files-only"],
    ["Sauerteig", "--limit=3", "--type=md", "-p", "*/notes/*"],
    ["tomato", "--mode", "SEMANTIC", "--no-rescore", "--explain"],
    ["load config", "--mode=lexical", "--since", "30d", "--before", "2999-01-01"],
    ["brot ü \"quoted\" back\\slash", "-l"],
])
def test_fast_path_prints_what_the_full_cli_prints(
        served: Running, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    index = str(served.service.engine.index_dir)
    status = fast.fast_search([*args, "--json", "--index", index])
    assert status in (0, 1)
    printed = capsys.readouterr().out
    # The full CLI through the same service (its own option parsing and JSON writing).
    from typer.testing import CliRunner

    from gemmasearch.cli.app import app

    result = CliRunner().invoke(app, ["search", *args, "--json", "--index", index])
    assert result.exit_code == status, result.output
    assert printed == result.stdout


def test_fast_path_knows_every_option_of_search() -> None:
    import typer.main

    from gemmasearch.cli.app import app

    command = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    names = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)
             if opt.startswith("-")}
    assert names - set(fast.OPTIONS) == set(fast.FULL_CLI_ONLY) - {"-h", "--help"}
    assert set(fast.OPTIONS) <= names


def test_what_the_service_refuses_goes_to_the_full_cli(served: Running) -> None:
    index = str(served.service.engine.index_dir)
    assert fast.fast_search(["flour", "--json", "--type", "nosuchkind",
                             "--index", index]) is None
    assert fast.fast_search(["flour", "--json", "--since", "someday",
                             "--index", index]) is None
    assert fast.fast_search(["flour", "--json", "--mode", "magic", "--index", index]) is None


@pytest.mark.parametrize("argv", [
    ["flour"],  # text output
    ["flour", "--json", "--bogus"],
    ["--json", "--batch", "-"],
    ["--json", "--batch=-"],
    ["flour", "--json", "-k", "0"],
    ["flour", "--json", "-k"],
    ["flour", "--json", "--no-service"],
    ["flour", "--json", "-lk", "3"],
    ["flour", "again", "--json"],
    ["  ", "--json"],
    ["flour", "--json", "--help"],
])
def test_fast_path_leaves_what_it_does_not_know_to_the_full_cli(argv: list[str]) -> None:
    assert fast.fast_search(argv) is None


def test_no_fast_path_when_the_service_is_switched_off(served: Running, isolated_home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    index = str(served.service.engine.index_dir)
    monkeypatch.setenv("GEMMASEARCH_NO_SERVICE", "1")
    assert fast.fast_search(["flour", "--json", "--index", index]) is None
    monkeypatch.setenv("GEMMASEARCH_NO_SERVICE", "0")
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("service = false\n")
    assert fast.fast_search(["flour", "--json", "--index", index]) is None
    (isolated_home / "config.toml").write_text("no_such_key = 1\n")  # the full CLI words it
    assert fast.fast_search(["flour", "--json", "--index", index]) is None


def test_index_from_config_and_environment_finds_the_service(
        served: Running, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    index = served.service.engine.index_dir
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(f"index = {json.dumps(str(index))}\n")
    assert fast.fast_search(["flour", "--json"]) == 0
    monkeypatch.chdir(index.parent)
    monkeypatch.setenv("GEMMASEARCH_INDEX", f"./{index.name}/.")
    assert fast.fast_search(["flour", "--json"]) == 0
    assert capsys.readouterr().out.count("\n") == 2


def test_search_imports_only_the_light_modules() -> None:
    code = ("import sys; before = set(sys.modules); from gemmasearch.cli import fast; "
            "fast.fast_search(['q', '--json', '--index', '/nonexistent/index']); "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    env = {**os.environ, "GEMMASEARCH_NO_SERVICE": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    light = {"gemmasearch", "gemmasearch.api", "gemmasearch.api.fields",
             "gemmasearch.cli", "gemmasearch.cli.fast", "gemmasearch.errors",
             "gemmasearch.locations", "gemmasearch.service", "gemmasearch.service.wire",
             "_socket", "_sha256", "_sha2"}
    assert set(out) <= light, set(out) - light


@pytest.mark.parametrize("value", ["plain", 'quo"te \\ back', "tab\tnl\n\x00\x1f", "ünï 日本",
                                   ["a", "b"], [], None, True, False, 0, 1000,
                                   {"k": [1, "x"], "q": None}])
def test_hand_written_json_reads_back(value: object) -> None:
    assert json.loads(wire.json_text(value)) == value


def test_config_file_keys_are_the_settings() -> None:
    from dataclasses import fields

    from gemmasearch.config import Settings

    settings_keys = {f.name for f in fields(Settings)} - {"paths", "index_dir"} | {"index"}
    assert settings_keys == locations.CONFIG_FILE_KEYS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux shortcut")
@pytest.mark.parametrize("xdg", [True, False])
def test_folders_agree_with_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         xdg: bool) -> None:
    import platformdirs

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    for variable, name in (("XDG_CONFIG_HOME", "cfg"), ("XDG_DATA_HOME", "data"),
                           ("XDG_CACHE_HOME", "cache")):
        if xdg:
            monkeypatch.setenv(variable, str(tmp_path / name))
        else:
            monkeypatch.delenv(variable, raising=False)
    for kind in ("config", "data", "cache"):
        assert locations.user_dir(kind) == getattr(platformdirs, f"user_{kind}_dir")(
            "gemmasearch")
    run = tmp_path / "xdg-run"
    run.mkdir(mode=0o700)
    os.chmod(run, 0o700)
    monkeypatch.delenv("GEMMASEARCH_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    assert locations.runtime_base() == platformdirs.user_runtime_dir("gemmasearch")
    os.chmod(run, 0o755)  # not private: both fall back alike
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert locations.runtime_base() == platformdirs.user_runtime_dir("gemmasearch")


def test_absolute_names_an_index_like_pathlib(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for given in ("idx", "./idx/", "idx/./sub//x", "~/idx", "/a/../b", str(tmp_path)):
        assert locations.absolute(given) == str(Path(given).expanduser().absolute())


def test_batch_goes_through_the_service(served: Running, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """``search --batch`` asks the running service (no model loads here) and prints what
    a batch without it prints."""
    from typer.testing import CliRunner

    from gemmasearch.cli.app import app
    from tests.conftest import fake_make_engine, patch_cli_engines

    index = served.service.engine.index_dir

    def no_model_here(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the batch loaded the model although a service runs")

    patch_cli_engines(monkeypatch, no_model_here)
    queries = "flour\n\ntomato sun\nqqqqzzzz\n"
    args = ["search", "--batch", "-", "-k", "2", "--index", str(index)]
    through_service = CliRunner().invoke(app, args, input=queries)
    assert through_service.exit_code == 0, through_service.output
    patch_cli_engines(monkeypatch, fake_make_engine(index))
    local = CliRunner().invoke(app, [*args, "--no-service"], input=queries)
    assert local.exit_code == 0, local.output
    assert through_service.stdout == local.stdout
    lines = [json.loads(line) for line in local.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["flour", "tomato sun", "qqqqzzzz"]
