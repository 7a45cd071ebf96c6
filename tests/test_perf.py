"""`python -m benchmark.perf`: every stage runs on a tiny synthetic shape and writes its table."""
import csv
import math

import pytest

from benchmark.perf.__main__ import main
from benchmark.perf.concurrent import best_speedup, earlier_concurrency
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
])
def test_bad_command_line_exits_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


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
