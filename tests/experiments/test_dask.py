"""The same sweep on a Dask cluster gives the same results as on local processes."""

from __future__ import annotations

import pytest

from bftlab.experiments.executors import make_executor, run_missing
from bftlab.experiments.store import Store
from bftlab.experiments.sweep import load_sweep

from .helpers import digests, toy_experiment

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_matches_local_processes(tmp_path):
    sweep = load_sweep(toy_experiment(tmp_path, requests=200, seeds=2))
    local, dask = Store(tmp_path / "local"), Store(tmp_path / "dask")
    with make_executor("local", workers=2) as (ex, _):
        assert run_missing(sweep, local, ex, progress=False).ran == 8
    # In-process workers (threads) keep the test fast; the code path is the one a remote cluster uses.
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        outcome = run_missing(sweep, dask, client.get_executor(), progress=False)
    assert (outcome.ran, outcome.failed, outcome.interrupted) == (8, (), False)
    assert digests(dask.root) == digests(local.root) and len(digests(local.root)) == 8


def test_dask_executor_without_scheduler_starts_a_local_cluster(tmp_path):
    sweep = load_sweep(toy_experiment(tmp_path, requests=50, seeds=1), quick=True)
    with make_executor("dask", workers=1) as (ex, where):
        assert where == "a local Dask cluster of 1 worker"
        assert run_missing(sweep, Store(tmp_path / "s"), ex, progress=False).ran == 2
