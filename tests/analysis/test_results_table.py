"""The results table of any grid, checked by hand on synthetic records; capped rows, code versions,
a corrupt per-user file and the paper artefacts that are skipped rather than drawn half empty."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.analysis.artefacts import Skipped
from benchmark.analysis.fig4_posterior import fig4_posterior
from benchmark.analysis.fig6_beta import fig6_beta
from benchmark.analysis.records import load_grid_results
from benchmark.analysis.rendering import to_markdown
from benchmark.analysis.results_table import BadReference, Reference, results_table
from benchmark.analysis.table3 import table3
from tests.analysis.synthetic import USER_ACTIVITY, make_record, per_user_frame, write_trial

REPO = Path(__file__).resolve().parents[2]
PER_SEED = {"kar": [0.10, 0.12, 0.14], "lightgcn": [0.15, 0.16, 0.17], "rlmrec_c": [0.13, 0.13]}


def store_values(root, grid="g", values=PER_SEED, dataset="steam", extra=None, **config):
    for model, per_seed in values.items():
        for seed, value in enumerate(per_seed, start=1):
            metrics = {"recall@20": value, "ndcg@20": value / 2, **(extra or {})}
            write_trial(root, grid, make_record({"model": model, "dataset": dataset, "seed": seed, **config}, value,
                                                metrics=metrics))


def cell(table, model, metric="recall@20", dataset="steam", **where):
    data = table.data[(table.data["model"] == model) & (table.data["metric"] == metric)
                      & (table.data["dataset"] == dataset)]
    for key, value in where.items():
        data = data[data[key] == value]
    assert len(data) == 1, data
    return data.iloc[0]


def test_values_std_n_marks_and_welch_p_by_hand(tmp_path):
    store_values(tmp_path, extra={"mrr@20": 0.05})
    table = results_table(load_grid_results("g", tmp_path), Reference.parse("lightgcn"))
    kar = cell(table, "kar")
    assert kar["mean"] == pytest.approx(0.12) and kar["n_seeds"] == 3
    assert kar["std"] == pytest.approx(math.sqrt((0.02 ** 2 + 0 + 0.02 ** 2) / 2))  # ddof=1: 0.02, not 0.0163
    # Welch by hand: t = 0.04 / sqrt(0.02^2/3 + 0.01^2/3), df by Welch-Satterthwaite
    se2 = (0.0004 / 3, 0.0001 / 3)
    t = 0.04 / math.sqrt(sum(se2))
    df = sum(se2) ** 2 / (se2[0] ** 2 / 2 + se2[1] ** 2 / 2)
    assert kar["p_value"] == pytest.approx(2 * stats.t.sf(t, df), rel=1e-9)
    assert kar["p_value"] == pytest.approx(stats.ttest_ind([0.10, 0.12, 0.14], [0.15, 0.16, 0.17],
                                                           equal_var=False).pvalue, rel=1e-12)
    assert [cell(table, m)["mark"] for m in ("lightgcn", "rlmrec_c", "kar")] == ["bold", "underline", ""]
    assert math.isnan(cell(table, "lightgcn")["p_value"])  # the reference itself
    assert cell(table, "kar", metric="mrr@20")["mean"] == pytest.approx(0.05)  # every stored metric is in the CSV
    markdown = to_markdown(table)
    assert "| KAR |  | 0.1200 ± 0.0200 | 0.0" in markdown and "| 3 |" in markdown
    assert "| LightGCN |  | **0.1600 ± 0.0100** | reference |" in markdown
    assert "mrr" not in markdown  # Markdown shows Recall@20 and NDCG@20 only


def test_rows_per_swept_value_and_no_p_column_without_reference(tmp_path):
    for beta, values in ((0.2, [0.20, 0.22]), (0.8, [0.18, 0.18])):
        for seed, value in enumerate(values, start=1):
            write_trial(tmp_path, "g", make_record({"model": "multvae", "matcher": "mddm", "dataset": "steam",
                                                    "seed": seed, "beta": beta}, value))
    table = results_table(load_grid_results("g", tmp_path))
    assert [c for _, c in table.columns] == ["Model", "Variant", "Config", "Recall@20", "NDCG@20", "n"]
    rows = [[c.text for c in row[:4]] for row in table.body_rows()]
    assert rows == [["Mult-VAE", "DMRec-M", "beta=0.2", "0.2100 ± 0.0141"],
                    ["Mult-VAE", "DMRec-M", "beta=0.8", "0.1800 ± 0.0000"]]
    assert "p_value" in table.data and table.data["p_value"].isna().all()


def test_reference_that_names_no_single_row_is_refused(tmp_path):
    store_values(tmp_path)
    results = load_grid_results("g", tmp_path)
    with pytest.raises(BadReference, match="no such row in this grid"):
        results_table(results, Reference.parse("multvae+mddm"))
    write_trial(tmp_path, "h", make_record({"model": "kar", "dataset": "steam", "seed": 1, "lr": 0.1}, 0.1))
    write_trial(tmp_path, "h", make_record({"model": "kar", "dataset": "steam", "seed": 1, "lr": 0.2}, 0.1))
    with pytest.raises(BadReference, match="2 rows differ in swept values"):
        results_table(load_grid_results("h", tmp_path), Reference.parse("kar"))


def test_capped_rows_are_marked_and_a_capped_comparison_says_so(tmp_path):
    # make_record runs 30 epochs: a cap of 30 was hit (capped), a cap of 300 was not (early stop)
    store_values(tmp_path, values={"kar": [0.14, 0.15]}, epochs=30)
    store_values(tmp_path, values={"multvae": [0.16, 0.17]}, matcher="mddm", epochs=300)
    results = load_grid_results("g", tmp_path)
    table = results_table(results)
    training = {row[0].text: row[2].text for row in table.body_rows()}
    assert training == {"Mult-VAE": "early stop", "KAR": "capped at 30 epochs"}
    means, _, _ = table3(results)
    labels = [row[0].text for row in means.body_rows()]
    assert labels[0] == "KAR (capped at 30 epochs)"
    improv = next(row for row in means.body_rows() if row[0].text == "Improv.%")
    p_row = next(row for row in means.body_rows() if row[0].text == "p-value")
    assert improv[1].text == "+13.79%†" and p_row[1].text.endswith("†")
    assert "capped at N epochs" in means.caption and "KAR (capped at 30 epochs)" in means.caption
    assert any("stopped early" in note for note in means.notes)


def analyse(*args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "benchmark.analysis", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_report_lists_code_versions_and_warns_on_a_mix(tmp_path):
    for seed, code in ((1, "a" * 64), (2, "b" * 64)):  # KAR's two trials ran different code
        record = make_record({"model": "kar", "dataset": "steam", "seed": seed}, 0.1)
        record["provenance"] = {"commit": "1b29e6c0ffee", "dirty": False, "code_hash": code, "code_files": 3}
        write_trial(tmp_path / "results", "mix", record)
    record = make_record({"model": "lightgcn", "dataset": "steam", "seed": 1}, 0.1)
    record["provenance"] = {"commit": "1b29e6c0ffee", "dirty": False, "code_hash": "c" * 64, "code_files": 2}
    write_trial(tmp_path / "results", "mix", record)
    done = analyse("--grid", "mix", env_extra={"DMREC_RESULTS": str(tmp_path / "results"),
                                                "DMREC_DATA": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "results" / "mix_report.md").read_text()
    assert report.index("### Results") < report.index("### Code versions") < report.index("### Environment")
    assert ("- results: commit 1b29e6c0ff (clean); code hash per model: LightGCN cccccccccccc; "
            "KAR aaaaaaaaaaaa (1), bbbbbbbbbbbb (1)") in report  # models in registry order
    assert "WARNING: results mixes code versions (KAR from 2 code versions)" in report
    assert (tmp_path / "results" / "tables" / "mix_results.csv").is_file()
    assert not (tmp_path / "results" / "tables" / "mix_table2.md").exists()
    assert "- Table 2: skipped. Table 2 needs a generative base and a DMRec variant" in report
    assert "- Table 3: skipped. Table 3 needs DMRec-M on Mult-VAE" in report
    assert "- Table 1: skipped. No dataset of the grid is prepared here (steam: " in report  # DMREC_DATA is empty
    assert not (tmp_path / "results" / "tables" / "mix_table1.md").exists()


def test_one_model_of_one_commit_is_not_a_mix(tmp_path):
    store_values(tmp_path / "results", grid="one", values={"kar": [0.1, 0.2]})
    done = analyse("--grid", "one", env_extra={"DMREC_RESULTS": str(tmp_path / "results"),
                                               "DMREC_DATA": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "results" / "one_report.md").read_text()
    assert "- results: commit abc1234 (dirty flag not recorded); code hash per model: KAR not recorded" in report
    assert "WARNING" not in report


def test_corrupt_per_user_file_leaves_out_that_trial_only_and_exits_1(tmp_path):
    root = tmp_path / "results"
    ids = {}
    for matcher in ("none", "mddm"):
        for seed in (1, 2):
            record = make_record({"model": "multvae", "matcher": matcher, "dataset": "steam", "seed": seed}, 0.1)
            users = per_user_frame(USER_ACTIVITY, 0.1 + seed / 100, seed)
            ids[(matcher, seed)] = write_trial(root, "cu", record, users)
    broken = root / "cu" / "trials" / ids[("mddm", 2)] / "per_user.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 this is not a gzip stream")
    done = analyse("--grid", "cu", env_extra={"DMREC_RESULTS": str(root), "DMREC_DATA": str(tmp_path / "data")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if str(broken) in line]
    assert len(named) == 2  # the warning when read, the "left out" line of the summary
    fig3 = pd.read_csv(tmp_path / "figures" / "cu_fig3_sparsity.csv")
    assert (fig3["seeds DMRec-M"] == 1).all() and (fig3["seeds Base"] == 2).all()  # only that trial is missing
    report = (root / "cu_report.md").read_text()
    assert "### Left out (bad data)" in report and str(broken) in report
    assert (root / "tables" / "cu_results.md").is_file() and (root / "tables" / "cu_table2.md").is_file()


def test_one_box_fig4_is_skipped_and_one_seed_fig6_claims_no_error_bars(tmp_path):
    write_trial(tmp_path, "g", make_record({"model": "multvae", "matcher": "none", "dataset": "steam", "seed": 1},
                                           0.1, posterior_dims=8))
    write_trial(tmp_path, "g", make_record({"model": "multvae", "matcher": "mddm", "dataset": "steam", "seed": 1},
                                           0.1))  # no posterior statistics: Base would be a box alone
    with pytest.raises(Skipped, match=r"Fig\. 4 needs Mult-VAE Base and DMRec-M"):
        fig4_posterior(load_grid_results("g", tmp_path), tmp_path, "g")
    for beta in (0.2, 0.8):
        write_trial(tmp_path, "s", make_record({"model": "multvae", "matcher": "mddm", "dataset": "steam",
                                                "seed": 1, "beta": beta}, 0.1 + beta / 10))
    figure = fig6_beta(load_grid_results("s", tmp_path), tmp_path, "s")
    assert "one seed per point, so no error bars" in figure.caption and "standard deviation" not in figure.caption
    assert np.isnan(figure.data["recall@20 std"]).all()


def test_cli_help_version_and_bad_references(tmp_path):
    helped = analyse("--help")
    assert helped.returncode == 0 and "--reference MODEL[+MATCHER]" in helped.stdout and "(default:" in helped.stdout
    assert analyse("--version").returncode == 0
    assert analyse().returncode == 2  # neither --grid nor --all
    store_values(tmp_path / "results", grid="ref")
    env = {"DMREC_RESULTS": str(tmp_path / "results"), "DMREC_DATA": str(tmp_path / "data")}
    typo = analyse("--grid", "ref", "--reference", "lightgcm", env_extra=env)
    assert typo.returncode == 2
    assert typo.stderr.strip() == "error: --reference lightgcm: unknown model 'lightgcm'; did you mean 'lightgcn'?"
    absent = analyse("--grid", "ref", "--reference", "multvae+mddm", env_extra=env)
    assert absent.returncode == 2 and "no such row in this grid (rows: lightgcn+none, kar+none" in absent.stderr
    assert not (tmp_path / "results" / "tables").exists()  # nothing written for a bad command line
    fine = analyse("--grid", "ref", "--reference", "lightgcn", env_extra=env)
    assert fine.returncode == 0, fine.stderr
    table = pd.read_csv(tmp_path / "results" / "tables" / "ref_results.csv")
    assert set(table["reference"]) == {"lightgcn"}
