"""`python -m benchmark.tune` end to end on the `tiny` fixture, with two Ray instances in all: a
search interrupted (Ctrl-C) after its first stored sample, then the same command again, which
keeps every stored sample as it was, spends the rest of each cell's equal budget, writes the tuned
grid and runs its seeds through the usual runner."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmark.runner.grid import Narrowing, expand, load_grid
from benchmark.runner.store import ResultStore
from benchmark.tuning.cells import grid_cells
from benchmark.tuning.history import best_sample, cell_samples

REPO = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "benchmark.tune", "--grid", "smoke", "--matchers", "none,mddm", "--budget", "2",
           "--seeds", "1", "--no-ray"]
CELLS = ["tiny/multvae/none", "tiny/multvae/mddm", "tiny/lightgcn/none"]


def env(data_root, results):
    values = {**os.environ, "DMREC_DATA": str(data_root), "DMREC_RESULTS": str(results), "OMP_NUM_THREADS": "1",
              "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    values.pop("RAY_ADDRESS", None)
    return values


def records(folder: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(folder.glob("trials/*/record.json"))}


def test_search_interrupted_then_resumed_then_tuned_runs(data_root, tmp_path):
    results = tmp_path / "results"
    search_folder = results / "smoke_search"
    # Ctrl-C must reach it even when this test runs with SIGINT ignored (a background job inherits that)
    first = subprocess.Popen(COMMAND, cwd=REPO, env=env(data_root, results), stdout=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not records(search_folder):
            assert first.poll() is None, f"the search ended before storing a sample:\n{first.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "no stored sample within 240 s"
            time.sleep(0.05)
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, output[-3000:]
    assert "rerun the same command to resume" in output
    kept = records(search_folder)
    assert 1 <= len(kept) < 2 * len(CELLS)
    assert not (results / "smoke_tuned.yaml").exists()

    again = subprocess.run(COMMAND, cwd=REPO, env=env(data_root, results), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    after = records(search_folder)
    assert {k: after[k] for k in kept} == kept  # stored samples were not retrained nor rewritten

    # an equal budget: exactly 2 samples per cell, each with its validation curve and no test metric
    store = ResultStore("smoke_search", results)
    cells = grid_cells(load_grid("smoke"), Narrowing(matchers=["none", "mddm"]))
    assert [c.key for c in cells] == CELLS
    for cell in cells:
        samples = cell_samples(store, cell)
        assert len(samples) == 2 and all(s.score is not None and s.validations for s in samples), cell.key
        for sample in samples:
            record = store.read_record(sample.trial_id)
            assert record["metrics"]["test"] == {} and record["search"]["cell"] == cell.key
            assert record["search"]["ended"] in ("completed", "stopped", None)
            assert max(row["epoch"] for row in record["curve"]) <= 6  # the grid's epoch cap held
    assert len(after) == 2 * len(CELLS)
    assert "budget spent" not in again.stdout or len(kept) >= 2

    # the tuned grid holds each cell's best sample, resolved, and its seed runs are in the store
    tuned_path = results / "smoke_tuned.yaml"
    tuned = load_grid(str(tuned_path))
    assert tuned.name == "smoke_tuned" and len(tuned.blocks) == len(CELLS)
    trials = expand(tuned)
    best_configs = {}
    for cell in cells:
        best = best_sample(cell_samples(store, cell))
        best_configs[cell.key] = store.read_record(best.trial_id)["config"]
    assert len(trials) == len(CELLS)
    for trial in trials:
        key = f"{trial.dataset}/{trial.model}/{trial.matcher}"
        assert trial.config == best_configs[key]  # the same seed 0: the very config that was selected
    tuned_store = ResultStore("smoke_tuned", results)
    assert tuned_store.finished_ids() == {t.trial_id for t in trials}
    for trial_id in tuned_store.finished_ids():
        assert set(tuned_store.read_record(trial_id)["metrics"]["test"]) >= {"recall@20", "ndcg@20"}
    assert json.loads(json.dumps(tuned_store.index()["trial_id"].tolist()))

    # the analysis: the runs at defaults beside the tuned ones, and the search curves
    from benchmark.analysis.tuned import tuned_section
    from benchmark.run import main as run_main

    assert run_main(["--grid", "smoke", "--matchers", "none,mddm", "--seeds", "1", "--no-ray",
                     "--results", str(results)]) == 0
    section = tuned_section("smoke", results, tmp_path / "tables", tmp_path / "figures")
    assert [t.key for t in section.tables] == ["table2_tuned", "table3_tuned"] and not section.skipped
    table3 = section.tables[1].data.set_index(["model", "matcher"])
    assert list(table3.index) == [("lightgcn", "none"), ("multvae", "mddm")]
    tuned_index = tuned_store.index().set_index(["model", "matcher"])
    for row in table3.index:
        assert table3.loc[row, "recall@20 tuned mean"] == tuned_index.loc[row, "test_recall@20"]
        assert table3.loc[row, "samples"] == 2 and table3.loc[row, "recall@20 default seeds"] == 1
    [figure] = section.figures
    assert sorted(p.suffix for p in figure.paths) == [".csv", ".pdf", ".png"] and all(p.is_file() for p in figure.paths)
    curve = figure.data
    assert len(curve) == 2 * len(CELLS)
    for (model, matcher), line in curve.groupby(["model", "matcher"]):
        cell = next(c for c in cells if (c.model, c.matcher) == (model, matcher))
        assert list(line["sample"]) == [1, 2]
        assert line["best_so_far"].is_monotonic_increasing
        assert line["best_so_far"].iloc[-1] == best_sample(cell_samples(store, cell)).score

    # the report of grid smoke carries them; the search store is no grid of its own to the analysis
    from benchmark.analysis.records import list_grids
    from benchmark.analysis.report import analyse_grid

    report = analyse_grid("smoke", results, tmp_path / "report-tables", tmp_path / "report-figures")
    assert {"table2_tuned", "table3_tuned"} <= {t.key for t in report.tables}
    assert "tuning_curve" in {f.key for f in report.figures}
    assert list_grids(results) == ["smoke", "smoke_tuned"]
