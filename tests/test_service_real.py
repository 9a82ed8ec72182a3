"""The service on the real model, through the real command line: a search that starts a
service returns exactly what a search without one returns, a killed service is replaced,
and `similar` needs no model for an indexed file. Every service started here is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmasearch.service.runtime import ServiceAddress, pid_alive
from tests.conftest import real_model_path, write_files

pytestmark = pytest.mark.real_model

DOCS = {
    "bread.md": "# Sourdough\nFeed the starter with flour and water, then bake the loaf "
                "in a hot oven until the crust is dark.\n",
    "garden.md": "# Tomatoes\nTomatoes need full sun, deep watering and a stake to climb.\n",
    "taxes.txt": "File the tax return before April; keep receipts for deductions.\n",
}


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, check: bool = True,
                 **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "gemmasearch", *args],
                                capture_output=True, text=True, env={**self.env, **env},
                                timeout=600)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def service_pid(self) -> int | None:
        status = json.loads(self("status", "--json").stdout)
        return status["service"]["pid"] if status.get("service") else None


@pytest.fixture
def cli(tmp_path: Path, isolated_home: Path) -> Iterator[Cli]:
    model = real_model_path()
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("service_idle_minutes = 3\n")
    env = {**os.environ, "GEMMASEARCH_MODEL": str(model), "GEMMASEARCH_NO_SERVICE": ""}
    run = Cli(env)
    write_files(tmp_path / "docs", DOCS)
    run("index", str(tmp_path / "docs"))
    yield run
    run("serve", "--stop", check=False)
    info = ServiceAddress.for_index(isolated_home / "index").read_info() or {}
    pid: Any = info.get("pid")
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_service_results_equal_local_results_and_survive_a_kill(cli: Cli) -> None:
    query = ("search", "how do I bake bread", "--json", "-k", "3")
    first = cli(*query)  # starts the service
    pid = cli.service_pid()
    assert pid is not None and pid_alive(pid)
    local = cli(*query, "--no-service")
    served = cli(*query)
    assert json.loads(local.stdout)[0]["path"].endswith("bread.md")
    assert first.stdout == local.stdout == served.stdout
    # Text output goes through the service too, and says the same.
    assert cli("search", "how do I bake bread", "-k", "3").stdout == \
        cli("search", "how do I bake bread", "-k", "3", "--no-service").stdout

    os.kill(pid, signal.SIGKILL)  # its socket stays behind, stale
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cli(*query).stdout == local.stdout  # a new service replaces the stale socket
    new_pid = cli.service_pid()
    assert new_pid is not None and new_pid != pid

    stopped = cli("serve", "--stop")
    assert f"pid {new_pid}" in stopped.stderr
    assert cli.service_pid() is None


def test_second_serve_refuses_while_one_runs(cli: Cli) -> None:
    cli("search", "tomatoes", "--json")  # starts one
    second = cli("serve", check=False)
    assert second.returncode != 0
    assert "already runs for this index" in second.stderr
    # `index` does not fail on the service's writer lock: the service does the work.
    pid = cli.service_pid()
    indexed = cli("index", "--json")
    assert json.loads(indexed.stdout)["unchanged"] == 3
    assert cli.service_pid() == pid
    # A rebuild cannot be handed off: it stops the service first.
    rebuilt = cli("index", "--rebuild")
    assert f"stopped the search service (pid {pid})" in rebuilt.stderr


def test_similar_needs_no_model_for_an_indexed_file(cli: Cli, tmp_path: Path) -> None:
    env = {k: v for k, v in cli.env.items() if k != "GEMMASEARCH_MODEL"}
    result = subprocess.run([sys.executable, "-m", "gemmasearch", "similar",
                             str(tmp_path / "docs" / "bread.md"), "--json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    paths = [r["path"] for r in json.loads(result.stdout)]
    assert paths and not any(p.endswith("bread.md") for p in paths)


def test_ctrl_c_on_a_handed_off_index_cancels_the_services_run(cli: Cli, tmp_path: Path
                                                              ) -> None:
    from gemmasearch.service.client import ServiceClient

    cli("search", "bread", "--json")  # starts the service
    pid = cli.service_pid()
    many = write_files(tmp_path / "many", {
        f"n{i:03d}.md": f"# Note {i}\nA paragraph about subject {i}, long enough to embed "
                        f"for a while: {'words ' * 60}\n" for i in range(150)})
    # Ctrl-C's default action even where this test runs as a background job of a
    # non-interactive shell, whose children inherit SIGINT ignored (Python then keeps it so).
    index = subprocess.Popen([sys.executable, "-m", "gemmasearch", "index", str(many)],
                             env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    service = ServiceClient.for_index(Path(cli.env["GEMMASEARCH_HOME"]) / "index")
    try:
        deadline = time.monotonic() + 300
        while True:  # the service has written at least one batch of the client's run
            assert time.monotonic() < deadline and index.poll() is None
            try:
                state = service.request("GET", "/index")
            except Exception:
                state = None
            if state and (state.get("progress") or {}).get("files_done"):
                break
            time.sleep(0.05)
        index.send_signal(signal.SIGINT)
        _, stderr = index.communicate(timeout=300)
    finally:
        if index.poll() is None:
            index.kill()
    assert index.returncode == 130, stderr
    assert "interrupted" in stderr
    state = service.request("GET", "/index")
    assert state["state"] == "cancelled"
    assert cli.service_pid() == pid  # the service goes on
    assert cli("check").returncode == 0  # consistent
    status = json.loads(cli("status", "--json").stdout)
    # Files are written with their words before their vectors, so reading may have finished
    # before the cancel; what the cancel stops is embedding: some files still wait for it.
    assert 3 < status["files"] <= 153
    assert status["lexical_only"]["files"] > 0
    assert json.loads(cli("index", str(many), "--json").stdout)["stopped"] is False
    status = json.loads(cli("status", "--json").stdout)
    assert status["files"] == 153 and status["lexical_only"]["files"] == 0


def _mapped_models(pid: int) -> set[str]:
    return {line.split(maxsplit=5)[5] for line in Path(f"/proc/{pid}/maps").read_text()
            .splitlines() if line.rstrip().endswith(".gguf")}


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps")
def test_the_service_keeps_the_model_as_given_and_frees_an_index_runs_copy(
        cli: Cli, tmp_path: Path) -> None:
    cli("search", "bread", "--json")  # starts the service, which answers it
    pid = cli.service_pid()
    assert pid is not None
    model = str(real_model_path().resolve())
    assert _mapped_models(pid) == {model}  # no 16-bit copy for queries
    write_files(tmp_path / "more", {"soup.md": "# Soup\nSimmer the onions for an hour.\n"})
    # Handed to the service, which may load a copy for the run.
    indexed = cli("index", str(tmp_path / "more"), "--json")
    assert json.loads(indexed.stdout)["added"] == 1
    assert _mapped_models(pid) == {model}  # ... and frees it after the run
    found = json.loads(cli("search", "how long do onions simmer", "--json", "-k", "1").stdout)
    assert found[0]["path"].endswith("soup.md")
