"""`python -m benchmark.perf`: every stage runs on a tiny synthetic shape and writes its table."""
import csv
import math

import pytest

from benchmark.perf.__main__ import group_list, main
from benchmark.perf.concurrent import best_speedup, earlier_concurrency
from benchmark.perf.group import earlier_groups, member_seeds
from benchmark.perf.group_project import group_projection
from benchmark.perf.project import grid_cells, stored_epochs
from benchmark.perf.table import Table
from benchmark.perf.variants import matcher_label, variant_label
from dmrec.matchers import MATCHERS


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_stage_writes_its_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DMREC_DATA", str(tmp_path / "nothing-prepared"))  # a fresh clone: no dataset
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "no-results"))
    from benchmark import measurements

    monkeypatch.setattr(measurements, "MEASUREMENTS_DIR", tmp_path / "measurements")
    out = tmp_path / "out"
    argv = ["--shape", "120,60,1500,8", "--repeats", "1", "--concurrent", "1,2", "--trial-epochs", "1",
            "--project", "smoke", "--project-epochs", "7", "--threads", "1", "--out", str(out), "--record"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    stages = ("concurrent", "epoch", "project")
    assert sorted(p.name for p in out.iterdir()) == [f"perf_{s}.{suffix}" for s in stages for suffix in ("csv", "md")]
    epoch = _rows(out / "perf_epoch.csv")
    assert [row["model"] for row in epoch] == ["Mult-VAE", "DMRec-G", "DMRec-C", "DMRec-M"]
    assert float(epoch[0]["vs_base"]) == 1.0 and all(float(row["epoch_s"]) > 0 for row in epoch)
    concurrent = _rows(out / "perf_concurrent.csv")
    assert [int(row["n"]) for row in concurrent] == [1, 2] and float(concurrent[0]["speedup"]) == 1.0
    assert all(float(row["trials_per_hour"]) > 0 for row in concurrent)
    project = _rows(out / "perf_project.csv")
    # the smoke grid: tiny x multvae x {none, mddm} x 2 seeds, tiny x lightgcn x 1 seed
    cells = {(row["model"], row["variant"]): row for row in project if row["dataset"] == "tiny"}
    assert {k: int(v["trials"]) for k, v in cells.items()} == {("lightgcn", "Base"): 1, ("multvae", "Base"): 2,
                                                               ("multvae", "DMRec-M"): 2}
    assert all(row["epochs"] == "7.0" and row["epochs_from"] == "default" for row in cells.values())
    total = next(row for row in project if row["dataset"] == "all")
    assert int(total["trials"]) == 5
    assert float(total["total_s"]) == pytest.approx(sum(float(r["total_s"]) for r in cells.values()))
    # each cell: 7 epochs and (validations after 2, 4, 6 + the test) evaluations
    row = cells[("multvae", "Base")]
    assert float(row["trial_s"]) == pytest.approx(7 * float(row["epoch_s"]) + 4 * float(row["eval_s"]))
    # a fresh clone: one line, then the tables of a synthetic stand-in
    assert printed.splitlines()[0] == ("perf: dataset 'amazon' is not prepared here; timing a synthetic stand-in "
                                       "of its shape instead (as --synthetic)")
    assert "### Projected smoke on one device" in (out / "perf_project.md").read_text()
    # --record: one dated measurement holding every table, under the exact command
    recorded = (tmp_path / "measurements" / "perf-cpu.md").read_text()
    assert "python -m benchmark.perf --shape 120,60,1500,8" in recorded
    for stage in ("epoch", "concurrent", "project"):
        assert (out / f"perf_{stage}.md").read_text() in recorded
    assert len(list((tmp_path / "measurements" / "perf-cpu").iterdir())) == 1


def test_table2_has_360_trials_in_36_cells():
    cells = grid_cells("table2")
    assert len(cells) == 36 and sum(c.trials for c in cells) == 360
    assert {c.dataset for c in cells} == {"amazon", "yelp", "steam"}
    assert {c.matcher for c in cells} == {"none", "godm", "cpdm", "mddm"}
    # each cell's config is its first trial's, as the runner resolves it: the grid's first seed
    assert all(c.config["seed"] == 0 and c.config["dataset"] == c.dataset for c in cells)


@pytest.mark.parametrize("argv, message", [
    (["--concurrent", "0,2"], "every N must be >= 1"),
    (["--shape", "1,2"], "expected USERS,ITEMS,INTERACTIONS,DIM"),
    (["--device", "tpu"], "invalid choice"),
    (["--group", "0,2"], "argument --group: --group '0,2': every K must be >= 1"),
    (["--group", "1,five"], "argument --group: --group '1,five': expected comma-separated integers, e.g. 1,5,10"),
    (["--group", ","], "argument --group: --group ',': every K must be >= 1"),
])
def test_bad_command_line_exits_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]  # one line says it


def test_group_sizes_always_hold_k1_and_seeds_never_repeat():
    assert group_list("10,5,5") == [1, 5, 10] and group_list("1") == [1]
    assert [member_seeds(p, 3) for p in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert member_seeds(4, 1) == [4]  # K = 1: process i runs seed i, as the concurrent stage's trials do


def test_group_stage_and_its_projection(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "no-results"))
    out = tmp_path / "out"
    argv = ["--dataset", "tiny", "--skip-epoch-table", "--group", "2", "--trial-epochs", "1", "--threads", "1",
            "--project", "smoke", "--shape", "120,60,1500,8", "--repeats", "1", "--project-epochs", "3",
            "--out", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"perf_{s}.{x}" for s in ("group", "project", "project_group")
                                                     for x in ("csv", "md")]
    groups = _rows(out / "perf_group.csv")
    # K = 1 is one ordinary trial (its record is not a group member's), K = 2 one batched group of two
    assert [(r["k"], r["processes"], r["trials"], r["grouped"]) for r in groups] == [("1", "1", "1", "no"),
                                                                                      ("2", "1", "2", "yes")]
    assert float(groups[0]["vs_k1"]) == 1.0 and float(groups[0]["work_vs_k1"]) == 1.0
    for row in groups:
        assert float(row["trials_per_hour"]) == pytest.approx(int(row["trials"]) * 3600 / float(row["wall_s"]))
    assert float(groups[1]["work_vs_k1"]) == pytest.approx(float(groups[0]["work_s_per_trial"])
                                                           / float(groups[1]["work_s_per_trial"]))
    project = {(r["model"], r["variant"]): r for r in _rows(out / "perf_project.csv")}
    grouped = _rows(out / "perf_project_group.csv")
    assert [(r["k"], r["processes"], r["runs"]) for r in grouped] == [("1", "1", "5"), ("2", "1", "3")]
    # K = 1 alone is today's projection, to the last digit; K = 2 divides each Mult-VAE cell's 2 seeds,
    # while LightGCN (no groups) keeps K = 1's speed
    assert grouped[0]["wall_s"] == project[("", "")]["total_s"] and float(grouped[0]["speedup"]) == 1.0
    speedup = float(groups[1]["work_vs_k1"])
    multvae = float(project[("multvae", "Base")]["total_s"]) + float(project[("multvae", "DMRec-M")]["total_s"])
    assert float(grouped[1]["speedup"]) == pytest.approx(speedup)
    lightgcn = float(project[("lightgcn", "Base")]["total_s"])
    assert float(grouped[1]["wall_s"]) == pytest.approx(multvae / speedup + lightgcn)
    assert float(grouped[1]["trials_per_hour"]) == pytest.approx(5 * 3600 / float(grouped[1]["wall_s"]))
    assert earlier_groups(out).rows[1]["work_s_per_trial"] == float(groups[1]["work_s_per_trial"])


def test_grouped_projection_by_hand():
    cells = [("amazon", "multvae", "Base", 10, 100.0), ("amazon", "multvae", "DMRec-M", 10, 200.0),
             ("amazon", "lightgcn", "Base", 3, 30.0)]
    columns = ["dataset", "model", "variant", "trials", "total_s"]
    project = Table("project", "p", columns, [dict(zip(columns, c, strict=True)) for c in cells]
                    + [{"dataset": "all", "trials": 23, "total_s": 330.0}])
    work = {(1, 1): 2.0, (3, 1): 1.0, (5, 1): 0.5, (1, 2): 3.0, (5, 2): 1.0}
    groups = Table("group", "g", ["k", "processes", "work_s_per_trial"],
                   [{"k": k, "processes": n, "work_s_per_trial": w} for (k, n), w in work.items()])
    rows = {(r["k"], r["processes"]): r for r in group_projection("table2", project, groups).rows}
    assert list(rows) == [(1, 1), (3, 1), (5, 1), (1, 2), (5, 2)]
    # speed-ups over (1, 1): 1, 2, 4, 2 x 2/3, 2 x 2/1; 10 seeds at K = 3: 4 groups charged as 12 trials
    expected = {(1, 1): (330.0, 23), (3, 1): (300 * 1.2 / 2 + 30, 11), (5, 1): (300 / 4 + 30, 7),
                (1, 2): (330 / (4 / 3), 23), (5, 2): (300 / 4 + 30 / (4 / 3), 7)}
    for key, (wall, runs) in expected.items():
        assert rows[key]["wall_s"] == pytest.approx(wall) and rows[key]["runs"] == runs
        assert rows[key]["trials_per_hour"] == pytest.approx(23 * 3600 / wall)
    assert rows[(1, 1)]["wall_s"] == 330.0


def test_unknown_trial_model_is_one_line_before_any_child(capsys):
    assert main(["--skip-epoch-table", "--concurrent", "1", "--trial-model", "nosuch"]) == 2
    assert capsys.readouterr().err.startswith("perf: --trial-model/--trial-matcher: unknown model 'nosuch'")


def test_cuda_without_a_gpu_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert main(["--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == ("perf: --device cuda, but torch sees no CUDA device "
                                               "(torch.cuda.is_available() is False)")


def test_projection_reads_the_concurrency_an_earlier_stage_wrote(tmp_path):
    assert earlier_concurrency(tmp_path) is None and earlier_concurrency(None) is None
    table = Table("concurrent", "t", ["n", "wall_s", "speedup"],
                       [{"n": 1, "wall_s": 9.0, "speedup": 1.0}, {"n": 4, "wall_s": 12.0, "speedup": 3.0},
                        {"n": 8, "wall_s": 30.0, "speedup": 2.4}])
    table.write(tmp_path)
    assert best_speedup(earlier_concurrency(tmp_path)) == (3.0, 4)


def test_epochs_per_trial_come_from_stored_runs(tmp_path, monkeypatch):
    from tests.analysis.synthetic import make_record, write_trial

    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path))
    for seed, validations in ((1, 4), (2, 6)):  # epochs_run 12 and 18
        config = {"model": "multvae", "dataset": "tiny", "matcher": "mddm", "seed": seed}
        write_trial(tmp_path, "smoke", make_record(config, 0.3, n_epochs=validations))
    assert stored_epochs("smoke") == {("tiny", "multvae", "mddm"): 15}
    assert stored_epochs("table2") == {}


def test_a_table_renders_markdown_and_csv_of_its_columns(tmp_path):
    table = Table("epoch", "Epoch seconds (cpu)", ["model", "epoch_s", "steps", "syncs"],
                  [{"model": "Mult-VAE", "epoch_s": 0.123456, "steps": 3, "syncs": "-"},
                   {"model": "DMRec-M", "epoch_s": math.nan, "steps": 12345},
                   {"model": "all", "epoch_s": 98765.4}], ["medians", "one note"])
    assert table.markdown() == (
        "### Epoch seconds (cpu)\n\n"
        "| model | epoch_s | steps | syncs |\n|---|---|---|---|\n"
        "| Mult-VAE | 0.1235 | 3 | - |\n| DMRec-M | n/a | 12345 |  |\n| all | 98,765 |  |  |\n\n"
        "- medians\n- one note\n")
    assert table.csv() == "model,epoch_s,steps,syncs\nMult-VAE,0.123456,3,-\nDMRec-M,nan,12345,\nall,98765.4,,\n"
    table.write(tmp_path)
    assert (tmp_path / "perf_epoch.csv").read_text() == table.csv()
    assert (tmp_path / "perf_epoch.md").read_text() == table.markdown()


def test_variant_labels_come_from_the_registries():
    assert [variant_label("multvae", m) for m in ("none", "godm", "cpdm", "mddm")] == [
        "Mult-VAE", "DMRec-G", "DMRec-C", "DMRec-M"]
    assert variant_label("cvga", "none") == "CVGA" and matcher_label("none") == MATCHERS["none"].label
    assert matcher_label("mddm") == MATCHERS["mddm"].label and matcher_label("unregistered") == "unregistered"
