"""`python -m benchmark.analysis` on synthetic stores: a full grid, a partial one, an empty one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data.layout import read_meta
from tests.analysis.synthetic import build_store, default_beta, make_record, write_trial
from tests.fixtures import prepare_tiny

REPO = Path(__file__).resolve().parents[2]
TABLES = ("table1", "table2", "table2_std", "table2_vs_paper", "table3", "table3_std", "table3_vs_paper")
FIGURES = ("fig2_convergence", "fig3_sparsity", "fig4_posterior", "fig5_ablation", "fig6_beta")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A data root with `amazon` (a paper dataset name) and `tiny` prepared, and an empty results root."""
    for name in ("amazon", "tiny"):
        prepare_tiny(tmp_path / "data" / "prepared", name=name)
    monkeypatch.setenv("DMREC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "results"))
    return tmp_path


def analyse(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "benchmark.analysis", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def store(workspace, grid, **kwargs):
    versions = {name: read_meta(name)["version"] for name in ("amazon", "tiny")}
    return build_store(workspace / "results", grid, versions=versions,
                       default_beta=default_beta,
                       **kwargs)


@pytest.mark.slow
def test_full_grid_writes_every_table_figure_and_report(workspace):
    store(workspace, "e2e")
    done = analyse("--grid", "e2e")
    assert done.returncode == 0, done.stderr
    for key in TABLES:
        for suffix in (".md", ".tex", ".csv"):
            path = workspace / "results" / "tables" / f"e2e_{key}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
    for key in FIGURES:
        for suffix in (".png", ".pdf", ".csv"):
            path = workspace / "figures" / f"e2e_{key}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
    report = (workspace / "results" / "e2e_report.md").read_text()
    for key in FIGURES:
        assert f"../figures/e2e_{key}.png" in report
    assert "device: cpu (x86_64)" in report and "git commit: abc1234" in report
    assert "seeds per configuration: 2" in report
    assert "The paper publishes no numbers for tiny" in report
    assert "data:image/png;base64," in (workspace / "results" / "e2e_report.html").read_text()

    # Fig. 3's plotted data is the store's: 40 users split 18/11/7/4 at edges 2, 5, 12 (USER_ACTIVITY)
    fig3 = pd.read_csv(workspace / "figures" / "e2e_fig3_sparsity.csv")
    amazon = fig3[fig3["dataset"] == "amazon"]
    assert amazon["n_users"].tolist() == [18, 11, 7, 4] and amazon["edges"].iloc[0] == "2,5,12"
    trials = workspace / "results" / "e2e" / "trials"
    base_scores = []
    for folder in sorted(trials.iterdir()):
        config = json.loads((folder / "record.json").read_text())["config"]
        if (config["model"], config.get("matcher"), config["dataset"]) == ("multvae", "none", "amazon"):
            users = pd.read_csv(folder / "per_user.csv.gz")
            base_scores.append(users.loc[users["n_train"] <= 2, "ndcg@20"].mean())
    assert len(base_scores) == 2
    assert amazon["ndcg@20 Base"].iloc[0] == pytest.approx(np.mean(base_scores))

    table1 = pd.read_csv(workspace / "results" / "tables" / "e2e_table1.csv")
    assert table1[["dataset", "source", "n_users", "n_interactions"]].values.tolist() == [
        ["amazon", "prepared", 64, 768], ["amazon", "paper", 11000, 200860], ["tiny", "prepared", 64, 768]]

    # Table 2 holds the default-beta trials only; the sweep is Fig. 6's
    table2 = pd.read_csv(workspace / "results" / "tables" / "e2e_table2.csv")
    values = table2[table2["row"] == "value"]
    assert set(values["variant"]) == {"Base", "DMRec-G", "DMRec-C", "DMRec-M"}
    assert (values["n_seeds"] == 2).all()
    fig6 = pd.read_csv(workspace / "figures" / "e2e_fig6_beta.csv")
    # the default-beta trials store the beta they ran (0.6: the released table's MDDM value on amazon), a sweep point
    assert sorted(fig6.loc[(fig6["dataset"] == "amazon") & (fig6["matcher"] == "mddm"), "beta"]) == [0.0, 0.5, 0.6, 1.0]


@pytest.mark.slow
def test_partial_grid_shows_what_ran_and_skips_what_did_not(workspace):
    skip = {("multvae", "cpdm", "tiny")} | {("multvae", m, d) for m in ("wo_pmn", "add", "wo_mixing")
                                            for d in ("amazon", "tiny")}
    store(workspace, "part", sweep=(), skip=skip)
    write_trial(workspace / "results", "part",
                make_record({"model": "kar", "dataset": "tiny", "seed": 9}, 0.1), status="failed")
    done = analyse("--grid", "part")
    assert done.returncode == 0, done.stderr
    report = (workspace / "results" / "part_report.md").read_text()
    assert "missing" not in report  # what did not run is not listed; what ran is shown
    table2 = pd.read_csv(workspace / "results" / "tables" / "part_table2.csv")
    cpdm = table2[(table2["row"] == "value") & (table2["model"] == "multvae") & (table2["matcher"] == "cpdm")]
    ran = cpdm.groupby("dataset")["value"].apply(lambda v: v.notna().all()).to_dict()
    assert ran == {"amazon": True, "tiny": False}
    assert "fig5_ablation: skipped" in report and "fig6_beta: skipped" in report
    assert "1 failed" in report
    assert (workspace / "figures" / "part_fig3_sparsity.png").is_file()
    assert not (workspace / "figures" / "part_fig5_ablation.png").exists()


def test_empty_store_is_a_clear_message_and_exit_code_1(workspace):
    done = analyse("--grid", "smoke")  # a grid file, never run here
    assert done.returncode == 1
    assert f"no finished trials in {workspace / 'results' / 'smoke'}/; run python -m benchmark.run --grid smoke" \
        in done.stderr
    assert "Traceback" not in done.stderr
    done = analyse("--all")
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_malformed_record_is_named_not_a_traceback(workspace):
    folder = workspace / "results" / "broken" / "trials" / "abc"
    folder.mkdir(parents=True)
    (folder / "record.json").write_text("{not json")
    done = analyse("--grid", "broken")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "record.json" in done.stderr


def test_fig3_without_per_user_files_is_skipped_with_a_note(workspace, tmp_path):
    from benchmark.analysis.artefacts import Skipped
    from benchmark.analysis.fig3_sparsity import fig3_sparsity
    from benchmark.analysis.records import load_grid_results

    for matcher in ("none", "mddm"):
        write_trial(workspace / "results", "nouser",
                    make_record({"model": "multvae", "dataset": "tiny", "matcher": matcher, "seed": 1}, 0.1))
    with pytest.raises(Skipped, match="no per-user file for any Mult-VAE Base trial"):
        fig3_sparsity(load_grid_results("nouser"), tmp_path, "nouser")


def test_unknown_grid_is_a_bad_command_line_with_a_suggestion(workspace):
    done = analyse("--grid", "smok")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: no grid 'smok' (no results in {workspace / 'results'}/smok/ and no benchmark/grids/smok.yaml); "
        f"did you mean 'smoke'?"]


def test_a_grid_writes_its_own_files_only_and_takes_a_grid_path(workspace):
    """Its tables, figures and report all carry its name; another grid's analysis leaves them as they are."""
    for grid in ("one", "two"):
        store(workspace, grid, datasets=("tiny",), seeds=(1,), sweep=())
    path = workspace / "one.yaml"  # the path the runner was given: the store is named by the file's stem
    path.write_text("datasets: [tiny]\nmodels: [multvae]\nseeds: 1\n")
    done = analyse("--grid", str(path))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for folder in ("results", "figures") for p in (workspace / folder).rglob("*")
                     if p.is_file() and "/trials/" not in str(p))
    assert written and all(name.startswith("one_") for name in written), written
    assert {"one_report.md", "one_report.html", "one_results.md"} <= set(written)
    first = {p: p.read_bytes() for p in workspace.rglob("one_*")}
    assert analyse("--grid", "two").returncode == 0
    assert {p: p.read_bytes() for p in workspace.rglob("one_*")} == first
    assert (workspace / "results" / "two_report.md").is_file() and not (workspace / "results" / "report.md").exists()
    missing = analyse("--grid", str(workspace / "three.yaml"))
    assert missing.returncode == 2 and f"{workspace / 'three.yaml'}: no such grid file" in missing.stderr
