"""Your own data, first-class: a CSV written here goes through `prepare`, a grid that names it, and
the analysis, and comes out as that grid's results table, with the suite's own commands."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def planted_interactions(path: Path, n_users: int = 48, n_items: int = 36, seed: int = 3) -> Path:
    """user,item,rating,timestamp rows: users of 3 taste groups each rate 10 items, 8 of their group's."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,rating,timestamp"]
    for user in range(n_users):
        own = [i for i in range(n_items) if i % 3 == user % 3]
        other = [i for i in range(n_items) if i % 3 != user % 3]
        items = [*rng.choice(own, 8, replace=False), *rng.choice(other, 2, replace=False)]
        lines += [f"u{user},item-{item},{rng.integers(3, 6)},{1000 + 7 * user + k}" for k, item in enumerate(items)]
    path.write_text("\n".join(lines) + "\n")
    return path


def suite(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_a_csv_of_your_own_reaches_its_results_table(tmp_path):
    source = planted_interactions(tmp_path / "interactions.csv")
    env = {**os.environ, "DMREC_DATA": str(tmp_path / "data"), "DMREC_RESULTS": str(tmp_path / "results"),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}

    prepared = suite(env, "benchmark.data", "prepare", "mine", "--source", str(source), "--split", "random")
    assert prepared.returncode == 0, prepared.stderr

    grid = tmp_path / "own.yaml"
    grid.write_text("datasets: [mine]\nmodels: [multvae, lightgcn]\nseeds: 2\n"
                    "params: {epochs: 4, eval_step: 2, stopping_step: 2}\n")
    ran = suite(env, "benchmark.run", "--grid", str(grid), "--no-ray")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    analysed = suite(env, "benchmark.analysis", "--grid", "own", "--reference", "lightgcn")
    assert analysed.returncode == 0, analysed.stdout[-3000:] + analysed.stderr[-3000:]

    table = pd.read_csv(tmp_path / "results" / "tables" / "own_results.csv")
    recall = table[table["metric"] == "recall@20"].set_index("model")
    assert set(recall.index) == {"multvae", "lightgcn"} and set(table["dataset"]) == {"mine"}
    assert (recall["n_seeds"] == 2).all() and recall["mean"].between(0, 1).all()
    index = pd.read_csv(tmp_path / "results" / "own" / "index.csv")
    for model, row in recall.iterrows():  # the table's cell is the mean and the ddof=1 std of the stored seeds
        stored = index.loc[index["model"] == model, "test_recall@20"]
        assert row["mean"] == pytest.approx(stored.mean()) and row["std"] == pytest.approx(stored.std(ddof=1))
    report = (tmp_path / "results" / "own_report.md").read_text()
    assert report.index("### Results") < report.index("Mult-VAE") and "LightGCN" in report
