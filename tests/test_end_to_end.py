"""The whole pipeline on the real smoke grid: runner -> store -> analysis, and the figures' data
matches the store."""
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

from benchmark.runner.store import ResultStore

REPO = Path(__file__).resolve().parents[1]


def _run(module, *args, env):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_smoke_grid_to_tables_and_figures(data_root, tmp_path):
    env = {**os.environ, "DMREC_RESULTS": str(tmp_path / "results"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    ran = _run("benchmark.run", "--grid", "smoke", "--no-ray", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    analysed = _run("benchmark.analysis", "--grid", "smoke", env=env)
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr

    tables = tmp_path / "results" / "tables"
    for name in ("table1", "table2", "table2_std", "table3"):
        for suffix in (".md", ".tex", ".csv"):
            path = tables / f"smoke_{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
    figures = tmp_path / "figures"
    for name in ("fig2_convergence", "fig3_sparsity", "fig4_posterior"):
        for suffix in (".png", ".pdf", ".csv"):
            path = figures / f"smoke_{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
    report = (tmp_path / "results" / "smoke_report.md").read_text()
    assert "smoke_fig3_sparsity.png" in report

    # Fig. 3's user counts are the store's evaluated users, split by training interactions
    os.environ["DMREC_RESULTS"] = env["DMREC_RESULTS"]
    try:
        store = ResultStore("smoke")
        index = store.index()
        base = index[(index["model"] == "multvae") & (index["matcher"] == "none")]
        per_user = store.read_per_user(base["trial_id"].iloc[0])
    finally:
        os.environ.pop("DMREC_RESULTS")
    fig3 = pd.read_csv(figures / "smoke_fig3_sparsity.csv")
    assert fig3["n_users"].sum() == len(per_user)
    edges = [int(e) for e in str(fig3["edges"].iloc[0]).split(",")]
    bounds = [0, *edges, per_user["n_train"].max()]
    counts = [int(((per_user["n_train"] > lo) & (per_user["n_train"] <= hi)).sum()) for lo, hi in pairwise(bounds)]
    assert fig3["n_users"].tolist() == counts

    # Fig. 4 plots the stored posterior statistics: one log a_k per latent dimension and seed
    fig4 = pd.read_csv(figures / "smoke_fig4_posterior.csv")
    assert len(fig4) == sum(len(store_record["posterior"]["dim_variance"]) for store_record in _records(env)
                            if store_record["config"]["model"] == "multvae")


def _records(env):
    os.environ["DMREC_RESULTS"] = env["DMREC_RESULTS"]
    try:
        return ResultStore("smoke").records()
    finally:
        os.environ.pop("DMREC_RESULTS")
