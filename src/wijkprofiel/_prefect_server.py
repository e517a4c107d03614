"""Prefect API servers started by the command line: the temporary one of ``wijkprofiel run``
and the local one (scheduler and dashboard) of ``wijkprofiel serve``.

Prefect imports its whole server (≈ 5 s on a 2-core machine) in the process that starts its
temporary server, only to start a second interpreter that imports it again and serves the
API. :class:`TemporaryServer` starts that interpreter directly (the same ``uvicorn`` command
and environment as Prefect's ``SubprocessASGIServer``), so it boots on the other core while
the run imports the pipeline; the run then points its client at it with ``PREFECT_API_URL``.
Prefect is imported inside the functions: the library imports without it.

Both servers end with the process that started them, also when that process is killed
(SIGKILL, the OOM killer) and cannot stop them itself: on Linux they are started through
:data:`_WITH_PARENT`, which asks the kernel for SIGTERM when their parent dies
(``PR_SET_PDEATHSIG``, kept across ``exec``) before it becomes the server.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from wijkprofiel.errors import ConfigError, WijkprofielError

__all__ = ["TemporaryServer", "check_port", "dashboard_url", "server_env", "start_local_server", "stop_process"]

#: what makes Prefect's app a temporary server (as in ``SubprocessASGIServer``): no dashboard,
#: no background services
_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}

#: ``python -c`` program: SIGTERM on the parent's death (Linux ``prctl(PR_SET_PDEATHSIG)``),
#: exit at once if the parent is already gone, then become the command in ``argv[2:]``
_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:\n"
    "    sys.exit(f'prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}')\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('parent exited before the server started')\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

#: exit code of the server process when its port was taken between choosing and binding it
_PORT_TAKEN = 3


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session; on Linux it gets SIGTERM when this process dies."""
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", _WITH_PARENT, str(os.getpid()), *command]
    return subprocess.Popen(command, env=env, start_new_session=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:  # noqa: S310 - loopback URL we built
            return bool(resp.status == 200)
    except OSError:
        return False


class TemporaryServer:
    """Prefect's temporary API server (no dashboard, no scheduler, SQLite under
    ``PREFECT_HOME``) in its own process for the duration of one run.

    Use :meth:`start_if_needed` before the pipeline is imported and :meth:`wait` before the
    flow starts. The server stops when this process exits (as Prefect's own temporary server
    does): after Prefect's exit handlers, which still send the last logs to it.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**env, **_SERVER_ENV}
        self.port = _free_port()
        self.process = self._launch()
        atexit.register(self.stop)

    @classmethod
    def start_if_needed(cls) -> TemporaryServer | None:
        """Start the server unless the settings name a server (``PREFECT_API_URL``) or turn
        the temporary one off; None then (the flow's client does what the settings say).

        When Prefect is not imported yet, the server is started first and the settings are
        read while it boots (Prefect's import takes ≈ 2 s); it is stopped again if they say
        no. The server then reads the same environment and profile as this process.
        """
        if os.environ.get("PREFECT_API_URL"):
            return None
        early = None if "prefect.settings" in sys.modules else cls(dict(os.environ))
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_SERVER_EPHEMERAL_ENABLED,
            get_current_settings,
        )

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            if early is not None:
                early.stop()
            return None
        return early or cls({**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)})

    @property
    def api_url(self) -> str:
        """The API's address (``http://127.0.0.1:<port>/api``)."""
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> subprocess.Popen[bytes]:
        spec = importlib.util.find_spec("prefect")  # without importing it
        if spec is None or spec.origin is None:
            msg = "Prefect is not installed (pip install -e .)"
            raise WijkprofielError(msg)
        app_dir = Path(spec.origin).resolve().parent.parent
        return _spawn(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"], self.env)

    def wait(self, timeout: float) -> str:
        """Wait until the API answers; its URL.

        Raises
        ------
        WijkprofielError
            The server exited or did not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == _PORT_TAKEN:
                self.port = _free_port()
                self.process = self._launch()
            elif code is not None:
                msg = f"Prefect's temporary server exited with code {code} while starting (port {self.port})"
                raise WijkprofielError(msg)
            elif _healthy(self.api_url):
                return self.api_url
            time.sleep(0.1)
        self.stop()
        msg = (f"Prefect's temporary server did not answer on {self.api_url} within {timeout:.0f} s "
               "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
        raise WijkprofielError(msg)

    def stop(self) -> None:
        """Stop the server (terminate, after 5 s kill)."""
        stop_process(self.process, 5.0)


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """Terminate ``process`` if it still runs; kill it when it has not exited after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_port(port: int) -> None:
    """ConfigError unless ``port`` is a valid, free TCP port on 127.0.0.1."""
    if not 1 <= port <= 65535:
        msg = f"--poort must be between 1 and 65535, got {port}"
        raise ConfigError(msg)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            msg = (f"port {port} on 127.0.0.1 is already in use ({exc.strerror}); choose another with --poort, "
                   f"or point PREFECT_API_URL at the Prefect server that runs there")
            raise ConfigError(msg) from exc


def server_env(port: int) -> dict[str, str]:
    """Environment of the local Prefect server: API and dashboard on 127.0.0.1:``port``, the
    dashboard's API URL set to that server (else the UI calls port 4200), the scheduler on."""
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update({
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": f"{base}/api",
        "PREFECT_UI_API_URL": f"{base}/api",
        "PREFECT_UI_URL": base,
        # serve exists for its dashboard: on even when the environment (e.g. an earlier
        # `run` in the same process, which switches it off) says otherwise
        "PREFECT_SERVER_UI_ENABLED": "true",
    })
    # The V1 dashboard by default: the V2 one loads Amplitude's SDK, which fetches its remote
    # configuration from amplitude.com even with analytics switched off ("Switch to V2 UI" stays)
    env.setdefault("PREFECT_SERVER_UI_V2_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "10")
    return env


def start_local_server(port: int, timeout: float = 240.0) -> subprocess.Popen[bytes]:
    """Start a local Prefect server (SQLite under PREFECT_HOME, with the scheduler and the
    dashboard) on 127.0.0.1:``port`` and point this process at it. Prefect's ephemeral
    server cannot schedule runs and has no dashboard, so serve needs one."""
    check_port(port)
    env = server_env(port)
    api = env["PREFECT_API_URL"]
    proc = _spawn([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"the local Prefect server exited with code {proc.returncode} while starting"
            raise WijkprofielError(msg)
        if _healthy(api):
            for key in ("PREFECT_API_URL", "PREFECT_UI_URL"):
                os.environ[key] = env[key]
            return proc
        time.sleep(1)
    proc.terminate()
    msg = f"the local Prefect server did not answer on {api} within {timeout:.0f} s"
    raise WijkprofielError(msg)


def dashboard_url(api_url: str) -> str:
    """The dashboard's address for an API URL (``PREFECT_UI_URL`` if set)."""
    ui = os.environ.get("PREFECT_UI_URL")
    return ui or api_url.rstrip("/").removesuffix("/api")
