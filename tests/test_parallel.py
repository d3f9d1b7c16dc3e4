"""The Dask backend: the same tr(H^2) as NumPy, on a two-worker LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest

from symws import parallel
from symws.testing import random_network

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_dask_pair_sums_equal_numpy(client, make_evaluator):
    module = make_evaluator(2, "tanh", True)
    params, X, Y = random_network(2, True, widths=[5, 6, 3], n_samples=70, seed=60)

    expected = module.ws_bound(params, X, Y)
    result = parallel.ws_bound(module, params, X, Y, client=client, tile_size=16)

    assert result.trace_sq == pytest.approx(expected.trace_sq, rel=1e-12)
    assert result.lambda_max_upper == pytest.approx(expected.lambda_max_upper,
                                                    rel=1e-12)


def test_dask_with_a_generated_module_and_weight_decay(client, make_evaluator):
    from symws.generated import deep_softplus

    params, X, Y = random_network(4, False, n_samples=40, seed=61)
    assert parallel.trace_h2(deep_softplus, params, X, Y, client=client,
                             tile_size=7) == pytest.approx(
        deep_softplus.trace_h2(params, X, Y), rel=1e-12)

    module = make_evaluator(2, "gelu", True, "mse", 0.5, "all")
    params, X, _ = random_network(2, True, n_samples=30, seed=62)
    Y = np.random.default_rng(0).normal(size=(30, params[-1][0].shape[0]))
    assert parallel.trace_h2(module, params, X, Y, client=client, tile_size=8,
                             weight_decay=0.2) == pytest.approx(
        module.trace_h2(params, X, Y, weight_decay=0.2), rel=1e-12)


def test_dask_without_a_client_uses_the_default_scheduler(make_evaluator):
    module = make_evaluator(1, "tanh", True)
    params, X, Y = random_network(1, True, n_samples=25, seed=63)
    assert parallel.trace_h2(module, params, X, Y, tile_size=6) == pytest.approx(
        module.trace_h2(params, X, Y), rel=1e-12)


def test_progress_callback_counts_tile_pairs(make_evaluator):
    module = make_evaluator(1, "tanh", True)
    params, X, Y = random_network(1, True, n_samples=10, seed=64)
    calls = []
    module.trace_h2(params, X, Y, tile_size=3, progress=lambda *a: calls.append(a))
    assert calls[-1] == (10, 10) and len(calls) == 10
