"""Served flows travel to their run process pickled by value (Prefect 3.9 bundles): the
parameter models of every flow must still build there.

With ``from __future__ import annotations`` in a flow module, a parameter annotated with a
project class (``catalogue: Catalogue | None``) stays a string; the by-value copy of the
function keeps only the globals its code uses, so pydantic could not resolve the name and
every scheduled run failed before it started (CI, 2026-12-02).
"""

import ast
import sys
from pathlib import Path

import cloudpickle
import pytest
from prefect.flows import Flow, load_flow_from_entrypoint

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
FLOW_MODULES = ["wijkprofiel_flow", "fetch_flow", "publish_flow"]


@pytest.mark.parametrize("module", FLOW_MODULES)
def test_flows_validate_parameters_after_shipping_by_value(module: str) -> None:
    entry = PIPELINES / f"{module}.py"
    flows = {}
    main = load_flow_from_entrypoint(f"{entry}:{_first_flow(entry)}")
    loaded = sys.modules[main.fn.__module__]
    cloudpickle.register_pickle_by_value(loaded)
    try:
        for name, value in vars(loaded).items():
            if isinstance(value, Flow) and value.fn.__module__ == loaded.__name__:
                flows[name] = cloudpickle.loads(cloudpickle.dumps(value))
    finally:
        cloudpickle.unregister_pickle_by_value(loaded)
    assert flows
    for name, shipped in flows.items():
        annotations = shipped.fn.__annotations__
        unresolved = {k: v for k, v in annotations.items() if isinstance(v, str)}
        assert not unresolved, f"{module}.{name}: annotations left as strings {unresolved}"
        defaults = {p: None for p in shipped.parameters.properties}
        try:
            shipped.validate_parameters(defaults)
        except Exception as exc:  # noqa: BLE001 - only a type error on None is acceptable
            assert "not fully defined" not in str(exc), f"{module}.{name}: {exc}"


def _first_flow(path: Path) -> str:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                "flow" in ast.unparse(d) for d in node.decorator_list):
            return node.name
    raise AssertionError(f"no flow in {path}")


def test_serve_switches_its_dashboard_on_whatever_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process `run` sets PREFECT_SERVER_UI_ENABLED=false in os.environ; a later
    `serve` in that process must still start its server with the dashboard (the full suite
    runs `run` before `serve`; with the inherited "false" the dashboard answered 404)."""
    from wijkprofiel._prefect_server import server_env as _server_env

    monkeypatch.setenv("PREFECT_SERVER_UI_ENABLED", "false")
    env = _server_env(4321)
    assert env["PREFECT_SERVER_UI_ENABLED"] == "true"
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4321/api"
