"""`wijkprofiel serve`: a local Prefect server with its dashboard on ``--poort``, a scheduled
deployment whose first run completes, Prefect's own CLI against that server, and the run's
artifact on the flow run's page in the dashboard (Debian's Chromium; never downloads one)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import REPO
from tests.prefect_home import seeded_prefect_home
from wijkprofiel.cli import main

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
NAME = "test-serve"
GEMEENTE = "GM0233"
INTERVAL = 30  # seconds between scheduled runs (serve's scheduler visits every 10 s)
RUN_TIMEOUT = 600.0  # server start, one interval and one run on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback server started here
        return json.load(resp)


def _deployment_runs(api: str, states: list[str]) -> list[dict[str, Any]]:
    """Runs of the deployment (not sub-flows) in one of ``states``, the earliest first."""
    return list(_post(f"{api}/flow_runs/filter", {
        "deployments": {"name": {"any_": [NAME]}},
        "flow_runs": {"state": {"type": {"any_": states}}}, "sort": "START_TIME_ASC", "limit": 10}))


def _completed_deployment_run(api: str) -> dict[str, Any] | None:
    """The first completed run of the deployment, or None."""
    runs = _deployment_runs(api, ["COMPLETED"])
    return runs[0] if runs else None


def _pause_and_settle(api: str, deployment_id: str, deadline: float) -> None:
    """Pause the deployment (Prefect deletes its scheduled runs) and wait until a run it had
    already started has finished, so the tests read a warehouse no run is writing."""
    _post(f"{api}/deployments/{deployment_id}/pause_deployment", {})
    while _deployment_runs(api, ["PENDING", "RUNNING"]) and time.monotonic() < deadline:
        time.sleep(2)


@pytest.fixture(scope="module")
def served(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`wijkprofiel serve` on a free port until its first scheduled run has completed."""
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PREFECT_UI_"))}
    env.update(PREFECT_HOME=str(seeded_prefect_home(tmp / ".prefect")), PYTHONUNBUFFERED="1", COLUMNS="200")
    log_path = tmp / "serve.log"
    log = log_path.open("w")
    # the first run is due one interval after the deployment is created; once it has
    # completed the deployment is paused, and a run it had already started is waited for
    proc = subprocess.Popen(
        # the small store (tests/small_store.py); offline, so the scheduled runs fetch nothing
        [sys.executable, "-m", "wijkprofiel.cli", "serve", "--interval", str(INTERVAL), "--out", str(tmp),
         "--raw", str(small_raw), "--zonder-verversen", "--gemeente", GEMEENTE, "--naam", NAME, "--poort", str(port)],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    db = tmp / "data" / "processed" / "wijkprofiel.duckdb"
    run = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None and run is None:
            time.sleep(5)
            try:
                run = _completed_deployment_run(f"{base}/api")
            except OSError:  # the server is still starting
                continue
        text = log_path.read_text(errors="replace")
        assert run is not None, f"no completed run within {RUN_TIMEOUT:.0f} s (exit {proc.poll()}):\n{text[-4000:]}"
        _pause_and_settle(f"{base}/api", run["deployment_id"], deadline)
        cli_env = dict(env, PREFECT_API_URL=f"{base}/api")
        yield {"tmp": tmp, "port": port, "base": base, "run": run, "db": db, "env": cli_env, "log": log_path}
    finally:
        if proc.poll() is None:  # a serve that exited (an error above) has no group to stop
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
        _stop_stray_server(port)


def _stop_stray_server(port: int) -> None:
    """serve stops its server on exit; if it did not (SIGKILL), end the one on ``port``."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "prefect server start" in args and f"--port {port}" in args:
            os.kill(int(pid), signal.SIGTERM)


def _prefect_json(served: dict[str, Any], *args: str) -> Any:
    cmd = [sys.executable, "-m", "prefect", *args, "-o", "json"]
    proc = subprocess.run(cmd, env=served["env"], capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def _artifact(served: dict[str, Any], *options: str) -> dict[str, Any]:
    """The run's artifact as `prefect artifact ls` lists it (the latest of its key; with
    ``--all`` every version, with the artifact's own id)."""
    artifacts = _prefect_json(served, "artifact", "ls", *options)
    mine = [a for a in artifacts if a["key"] == "wijkprofiel-run" and a["flow_run_id"] == served["run"]["id"]]
    assert mine, f"no artifact wijkprofiel-run of flow run {served['run']['id']}: {artifacts}"
    return mine[0]


@pytest.mark.slow
def test_scheduled_run_completes_and_prefect_cli_lists_it(served: dict[str, Any]) -> None:
    log = served["log"].read_text(errors="replace")
    assert f"Dashboard: {served['base']}" in log
    assert NAME in log
    for stage in ("ingest", "harmonise", "validate", "compare", "warehouse", "publish", "artifact"):
        assert f" {stage}: " in log, f"stage {stage} not logged"
    with duckdb.connect(str(served["db"]), read_only=True) as con:
        status = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    # the warehouse names the flow run Prefect completed; a second scheduled run may have
    # started before the pause, and it completed too
    assert status[served["run"]["id"]] == "completed"
    assert set(status.values()) == {"completed"}, status
    assert (served["tmp"] / "maps" / "gemeenten" / f"{GEMEENTE}.html").is_file()

    deployments = _prefect_json(served, "deployment", "ls")
    assert [d["name"] for d in deployments] == [NAME]
    assert served["run"]["deployment_id"] == deployments[0]["id"]

    runs = _prefect_json(served, "flow-run", "ls", "--flow-name", "wijkprofiel", "--state-type", "COMPLETED")
    assert served["run"]["id"] in [r["id"] for r in runs]

    # every version of the key: the next scheduled run (nothing changed, so it reuses
    # everything within seconds) may already have written the latest one
    artifact = _artifact(served, "--all")
    assert artifact["type"] == "markdown"
    assert "## Bronnen" in artifact["data"]
    assert "wijkprofiel-run" in subprocess.run(  # the table a person reads, too
        [sys.executable, "-m", "prefect", "artifact", "ls"], env=served["env"], capture_output=True, text=True,
        timeout=180, check=True).stdout


def _source_names(markdown: str) -> list[str]:
    """The source names in the artifact's Bronnen table."""
    section = markdown.split("## Bronnen", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| bron")]
    return [row.split("|")[1].strip() for row in rows]


def _show(page: Any, text: str, exact: bool, seen: dict[str, list[str]], shot: str) -> Any:
    """The first element showing ``text``; the page is reloaded once if it does not appear
    within a minute (a busy machine). If it still does not, the failure names what the page
    showed, which API calls failed and what the console said, with a screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(2):
        locator = page.get_by_text(text, exact=exact).first
        try:
            locator.wait_for(timeout=60_000)
            return locator
        except PlaywrightTimeout:
            if attempt == 0:
                page.reload()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"serve-missing-{shot}.png"), full_page=True)
    body = page.inner_text("body") if page.query_selector("body") else ""
    raise AssertionError(f"{text!r} not shown on {page.url} after a reload; the page showed:\n{body[:3000]}\n"
                         f"failed API requests: {seen['failed'][:20]}\nconsole errors: {seen['errors'][:20]}")


@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_shows_deployment_and_run_artifact(served: dict[str, Any]) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"dashboard test needs Debian's chromium at {CHROMIUM} (apt-get install chromium); no browser is downloaded")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("dashboard test needs the playwright python package (pip install playwright)")
    base, run = served["base"], served["run"]
    artifact = _artifact(served, "--all")
    sources = _source_names(artifact["data"])
    assert sources
    errors: list[str] = []
    failed: list[str] = []
    foreign: list[str] = []

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and "/api/" in resp.url:
            failed.append(f"{resp.status} {resp.url}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", on_response)
            # a request the browser aborts because the page navigates on (net::ERR_ABORTED, seen
            # once in a full run for /api/ui/flow_runs/count-task-runs) is not a failure of the API
            page.on("requestfailed", lambda r: failed.append(f"failed {r.url}: {r.failure}")
                    if "/api/" in r.url and "ERR_ABORTED" not in str(r.failure) else None)
            page.on("request", lambda r: foreign.append(r.url)
                    if not r.url.startswith((base, "data:", "blob:")) else None)

            seen = {"failed": failed, "errors": errors}
            page.goto(f"{base}/deployments")
            _show(page, NAME, True, seen, "deployment").click()
            page.wait_for_url(f"**/deployments/deployment/{run['deployment_id']}**", timeout=60_000)
            _show(page, run["name"], False, seen, "deployment-run")  # the completed run is listed

            page.goto(f"{base}/runs/flow-run/{run['id']}")
            _show(page, run["name"], False, seen, "flow-run")
            _show(page, "Artifacts", True, seen, "artifacts-tab").click()
            _show(page, artifact["description"], True, seen, "artifact-card")  # the artifact's card
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "serve-flow-run-artifacts.png"))
            _show(page, "wijkprofiel-run", True, seen, "artifact-link").click()
            page.wait_for_url(f"**/artifacts/artifact/{artifact['id']}", timeout=60_000)
            _show(page, "Bronnen", True, seen, "artifact")
            body = page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "serve-artifact.png"), full_page=True)
        finally:
            browser.close()
    for source in sources:
        assert source in body, f"source {source} of the artifact not shown: {body[:2000]}"
    assert not failed, f"dashboard API requests failed: {failed}"
    api_errors = [e for e in errors if "api" in e.lower() or "connect" in e.lower() or ":4200" in e]
    assert not api_errors, f"console errors about the API: {api_errors}"
    assert not foreign, f"the dashboard requested other hosts: {foreign}"


def test_serve_refuses_a_port_in_use(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for key, value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "true",
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "GX_ANALYTICS_ENABLED": "false",
                       "DO_NOT_TRACK": "1"}.items():  # what serve sets; restored after the test
        monkeypatch.setenv(key, os.environ.get(key, value))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code = main(["serve", "--poort", str(port), "--raw", str(REPO / "data" / "raw")])
    assert code == 2
    err = capsys.readouterr().err
    assert "fout in de invoer" in err and str(port) in err and "--poort" in err


def test_scheduled_runs_refresh_what_the_catalogue_marks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``serve`` gives its deployment the catalogue and ``refresh_catalogue=True`` (every
    scheduled run fetches the datasets marked ``refresh``); the raw store is the writable
    store of --out above the seed, never the embedded data."""
    from pipelines.wijkprofiel_flow import wijkprofiel

    seen: dict[str, Any] = {}
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # an existing server: none is started
    monkeypatch.setattr(type(wijkprofiel), "serve", lambda self, **kw: seen.update(kw))
    catalogue = tmp_path / "catalogus.yaml"
    catalogue.write_text((REPO / "src" / "wijkprofiel" / "store" / "catalogus.yaml").read_text(encoding="utf-8"),
                         encoding="utf-8")
    assert main(["serve", "--out", str(tmp_path), "--catalogus", str(catalogue), "--interval", "3600"]) == 0
    params = seen["parameters"]
    assert params["refresh_catalogue"] is True and params["raw_root"] is None
    assert params["catalogue_path"] == str(catalogue.resolve()) and params["out_root"] == str(tmp_path.resolve())
    assert seen["interval"] == 3600
    assert main(["serve", "--out", str(tmp_path), "--zonder-verversen"]) == 0
    assert seen["parameters"]["refresh_catalogue"] is False and seen["parameters"]["catalogue_path"] is None
    bad = tmp_path / "kapot.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    assert main(["serve", "--out", str(tmp_path), "--catalogus", str(bad)]) == 2
