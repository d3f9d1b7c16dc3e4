"""``symws bench``: a smoke test of the quick run, and PyHessian as an optional peer."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

from symws import bench  # noqa: E402

TOOL_KEYS = set(bench.TOOLS)


def by_name(document: dict) -> dict:
    return {c["name"]: c for c in document["configurations"]}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    status = bench.bench_command(repeats=1, quick=True, json_path=str(path))
    return status, json.loads(path.read_text())


def test_quick_run_writes_every_key(quick_run):
    status, document = quick_run
    assert status == 0
    for key in ("repeats", "quick", "machine", "peers", "configurations", "targets",
                "checks", "problems"):
        assert key in document
    assert document["quick"] is True and document["repeats"] == 1
    for key in ("nproc", "cpu_model", "numpy_blas"):
        assert key in document["machine"]
    configs = by_name(document)
    assert list(configs) == ["iris 4-16-3 N=150 tanh init",
                             "digits 64-32-10 N=500 tanh init"]
    for config in configs.values():
        assert set(config["tools"]) == TOOL_KEYS
        assert {"n_params", "exact", "ratios", "tools"} <= set(config)
        for key in ("symws_ws_bound", "symws_trace_h", "symws_trace_h2",
                    "dense_eigh", "lanczos_symws"):
            entry = config["tools"][key]
            assert entry["status"] == "ok", (key, entry)
            assert len(entry["times_ms"]) == 1 and entry["median_ms"] > 0
        assert "dense_over_ws_bound" in config["ratios"]
    iris = configs["iris 4-16-3 N=150 tanh init"]
    assert iris["n_params"] == 4 * 16 + 16 + 16 * 3 + 3
    assert configs["digits 64-32-10 N=500 tanh init"]["n_params"] == 2410
    assert document["problems"] == []


def test_symws_traces_equal_the_dense_hessian_on_iris(quick_run):
    _, document = quick_run
    iris = by_name(document)["iris 4-16-3 N=150 tanh init"]
    tools = iris["tools"]
    # trace_h and trace_h2 (closed-form sums over samples) against the trace and
    # squared Frobenius norm of the dense Hessian, formed block by block
    dense = tools["dense_eigh"]
    assert tools["symws_trace_h"]["value"] == pytest.approx(dense["trace"], rel=1e-10)
    assert tools["symws_trace_h2"]["value"] == pytest.approx(dense["trace_sq"],
                                                             rel=1e-10)
    assert tools["symws_ws_bound"]["trace"] == pytest.approx(dense["trace"], rel=1e-10)
    # the Wolkowicz-Styan bounds bracket the exact lambda_max of eigvalsh
    exact = iris["exact"]["lambda_max"]
    assert exact == dense["value"]
    assert tools["symws_ws_bound"]["lambda_max_lower"] <= exact
    assert exact <= tools["symws_ws_bound"]["value"]
    # Lanczos on the generated product agrees with eigvalsh
    assert tools["lanczos_symws"]["value"] == pytest.approx(exact, rel=1e-8)
    # a trace of the Hessian is not the trace of something else
    assert dense["trace"] != pytest.approx(dense["trace_sq"], rel=1e-3)


def test_optional_peers_are_compared_when_present(quick_run):
    _, document = quick_run
    peers = document["peers"]
    iris = by_name(document)["iris 4-16-3 N=150 tanh init"]["tools"]
    if peers["torch"]["available"]:
        assert iris["lanczos_torch"]["status"] == "ok"
        assert iris["lanczos_torch"]["rel_error"] < 1e-8
    if peers["pyhessian"]["available"]:
        assert iris["pyhessian_eig"]["status"] == "ok"
        assert iris["pyhessian_trace"]["status"] == "ok"
        # estimates, not exact values: a loose check that they measure the same H
        assert iris["pyhessian_eig"]["rel_error"] < 0.2
        assert iris["pyhessian_trace"]["rel_error"] < 0.5
    else:
        assert iris["pyhessian_eig"]["status"].startswith("not available")


def test_missing_pyhessian_is_reported_not_raised(tmp_path, monkeypatch, capsys):
    def no_pyhessian():
        status = original()
        status["pyhessian"] = {"available": False,
                               "error": "ModuleNotFoundError: pyhessian"}
        return status

    original = bench.peer_status
    monkeypatch.setattr(bench, "peer_status", no_pyhessian)
    monkeypatch.setattr(bench, "configurations",
                        lambda quick: [bench.Config("iris", (4, 16, 3), 150, "tanh",
                                                    "init")])
    path = tmp_path / "results.json"
    assert bench.bench_command(repeats=1, quick=True, json_path=str(path)) == 0
    document = json.loads(path.read_text())
    tools = document["configurations"][0]["tools"]
    assert tools["pyhessian_eig"]["status"].startswith("not available")
    assert tools["pyhessian_trace"]["status"].startswith("not available")
    assert tools["symws_ws_bound"]["status"] == "ok"
    assert "ws_bound_over_pyhessian_eig" not in document["configurations"][0]["ratios"]
    assert "not available" in capsys.readouterr().out
