"""The temporary Prefect server of ``wijkprofiel run`` (``wijkprofiel._prefect_server``).

The real server is started by every CLI run in the end-to-end tests (test_cli_notebook,
test_integrity, test_interrupted_publish, test_stale_fetch). Here its start-up logic runs
against stand-in processes: a port taken between choosing and binding it (exit code 3), a
server that exits, one that never answers, and one that answers ``/api/health`` late.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from wijkprofiel._prefect_server import TemporaryServer
from wijkprofiel.errors import WijkprofielError

#: a stand-in API: answers GET /api/health with 200 after ``delay`` seconds of start-up
_HEALTH_SERVER = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _stand_ins(monkeypatch: pytest.MonkeyPatch, scripts: list[tuple[str, ...]]) -> list[subprocess.Popen[bytes]]:
    """Make each launch run the next ``(script, *args)`` with the port as first argument
    instead of Prefect's server; the processes started."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(self: TemporaryServer) -> subprocess.Popen[bytes]:
        script, *args = scripts[len(started)]
        proc = subprocess.Popen([sys.executable, "-c", script, str(self.port), *args])
        started.append(proc)
        return proc

    monkeypatch.setattr(TemporaryServer, "_launch", launch)
    return started


def test_no_server_when_the_environment_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr(TemporaryServer, "_launch", lambda self: pytest.fail("no server may be started"))
    assert TemporaryServer.start_if_needed() is None


def test_no_server_when_the_settings_name_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(TemporaryServer, "_launch", lambda self: pytest.fail("no server may be started"))
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert TemporaryServer.start_if_needed() is None


def test_a_taken_port_is_retried_on_another_and_health_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    started = _stand_ins(monkeypatch, [("import sys; sys.exit(3)",), (_HEALTH_SERVER, "0.5")])
    server = TemporaryServer({})
    try:
        url = server.wait(30)
        assert len(started) == 2, "the server exiting with 3 (port taken) is started again"
        assert url == f"http://127.0.0.1:{server.port}/api"
        assert started[0].returncode == 3
        assert server.env["PREFECT__SERVER_EPHEMERAL"] == "1" and server.env["PREFECT_UI_ENABLED"] == "0"
    finally:
        server.stop()
    assert started[1].poll() is not None, "stop() ends the server process"


def test_a_server_that_exits_while_starting_is_an_error_naming_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_ins(monkeypatch, [("import sys; sys.exit(1)",)])
    server = TemporaryServer({})
    with pytest.raises(WijkprofielError, match="exited with code 1"):
        server.wait(30)


def test_a_server_that_never_answers_times_out_and_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    started = _stand_ins(monkeypatch, [("import time; time.sleep(60)",)])
    server = TemporaryServer({})
    t0 = time.monotonic()
    with pytest.raises(WijkprofielError, match="did not answer .* within 1 s"):
        server.wait(1)
    assert time.monotonic() - t0 < 10
    assert started[0].poll() is not None, "the process that never answered is stopped"


#: a process that starts a long-sleeping "server" with ``_spawn`` and prints its pid
_PARENT = """
import os, sys, time
from wijkprofiel._prefect_server import _spawn
child = _spawn([sys.executable, "-c", "import time; time.sleep(120)"], dict(os.environ))
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_a_server_ends_when_its_run_is_killed() -> None:
    """A run killed with SIGKILL cannot stop its server; the kernel ends it (seen before the
    fix: every killed run left a Prefect server running for good)."""
    import os

    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # the server runs while its parent does
        time.sleep(0.5)
        os.kill(child, 0)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the server outlived the killed run"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by init, does not count)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
