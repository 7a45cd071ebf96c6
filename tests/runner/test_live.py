"""Live trials: every epoch reaches the progress display, the trial's epoch log and TensorBoard while
it trains, on a real Mult-VAE over the tiny fixture; a killed trial keeps the epochs it did."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.runner.execute import run_and_store
from benchmark.runner.grid import Narrowing, expand
from benchmark.runner.groups import form_groups
from benchmark.runner.inputs import inputs_of
from benchmark.runner.progress import Progress
from benchmark.runner.schedule import run_sequential
from benchmark.runner.store import EPOCH_LOG, ResultStore
from tests.runner.test_run import runner_env

REPO = Path(__file__).resolve().parents[2]


def multvae_trial():
    (trial,) = expand("smoke", Narrowing(models=["multvae"], matchers=["none"], seeds=1))
    return trial


def epoch_log(root: Path, trial_id: str, grid: str = "smoke") -> list[dict]:
    return [json.loads(line) for line in (root / grid / "trials" / trial_id / EPOCH_LOG).read_text().splitlines()]


def test_every_epoch_reaches_the_display_and_the_epoch_log_in_order(data_root, tmp_path):
    trial = multvae_trial()
    store, stream = ResultStore("smoke", root=tmp_path), io.StringIO()
    progress = Progress(1, {trial.trial_id: "T"}, stream=stream, epoch_line_s=0.0, live=False)
    run_sequential(form_groups([trial], 1), store, progress)
    record = store.read_record(trial.trial_id)
    logged = epoch_log(tmp_path, trial.trial_id)
    assert [e["epoch"] for e in logged] == list(range(1, record["epochs_run"] + 1))
    assert [round(e["seconds"], 4) for e in logged] == record["timings"]["epoch_s"]
    validated = [e for e in logged if e["valid"] is not None]
    assert [(e["epoch"], e["loss"], e["valid"], e["valid_metrics"]["ndcg@20"]) for e in validated] == \
        [(row["epoch"], row["train_loss"], row["recall@20"], row["ndcg@20"]) for row in record["curve"]]
    assert logged[-1]["best_epoch"] == record["best_epoch"]
    assert logged[-1]["best"] == record["metrics"]["valid"]["recall@20"]

    lines = stream.getvalue().splitlines()
    shown = [line.split("| epoch  T  ")[1] for line in lines if "| epoch  T  " in line]
    assert len(shown) == len(logged) and "| start  T" in lines[0] and "| done   T" in lines[-1]
    for text, epoch in zip(shown, logged, strict=True):  # in order, with the logged values
        assert text.startswith(f"epoch {epoch['epoch']}/6  loss {epoch['loss']:.4f}  recall@20 ")
    last_valid = validated[-1]["valid"]
    assert f"recall@20 {last_valid:.4f}  best {logged[-1]['best']:.4f} (epoch {record['best_epoch']})" in shown[-1]


def test_tensorboard_holds_the_loss_and_validation_metrics_of_each_epoch(data_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trial = multvae_trial()
    for _ in range(2):  # a rerun starts a fresh epoch log and fresh TensorBoard curves
        outcome = run_and_store(inputs_of(trial), str(tmp_path), threads=1, force=True, tensorboard=True)
        assert outcome["status"] == "finished"
    logged = epoch_log(tmp_path, trial.trial_id)
    assert [e["epoch"] for e in logged] == list(range(1, 7))
    folder = tmp_path / "smoke" / "tensorboard" / trial.trial_id
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(folder))
    events.Reload()
    assert {"train/loss", "train/epoch_seconds", "valid/recall@20", "valid/ndcg@5"} <= set(events.Tags()["scalars"])
    loss = events.Scalars("train/loss")
    assert [s.step for s in loss] == [1, 2, 3, 4, 5, 6]
    assert [s.value for s in loss] == [np.float32(e["loss"]) for e in logged]  # TensorBoard keeps float32
    recall = events.Scalars("valid/recall@20")
    assert [(s.step, s.value) for s in recall] == [(e["epoch"], np.float32(e["valid"])) for e in logged if e["valid"]]


def test_without_tensorboard_no_event_files(data_root, tmp_path):
    trial = multvae_trial()
    assert run_and_store(inputs_of(trial), str(tmp_path), threads=1)["status"] == "finished"
    assert not (tmp_path / "smoke" / "tensorboard").exists()
    assert len(epoch_log(tmp_path, trial.trial_id)) == 6


def test_the_epoch_log_never_follows_a_symlink(tmp_path):
    store = ResultStore("smoke", root=tmp_path / "results")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (tmp_path / "results" / "smoke" / "trials" / "t1").mkdir(parents=True)
    (tmp_path / "results" / "smoke" / "trials" / "t1" / EPOCH_LOG).symlink_to(outside)
    with pytest.raises(OSError):
        store.open_epoch_log("t1")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "results" / "smoke" / "trials" / "t2").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(OSError):
        store.open_epoch_log("t2")
    for bad in ("..", "a/b", ""):
        with pytest.raises(ValueError, match="is not a plain name"):
            store.open_epoch_log(bad)
    assert outside.read_text() == "keep" and not list((tmp_path / "elsewhere").iterdir())
    with store.open_epoch_log("t3") as log:
        log.write('{"epoch": 1}\n')
    path = tmp_path / "results" / "smoke" / "trials" / "t3" / EPOCH_LOG
    assert path.read_text() == '{"epoch": 1}\n' and (path.stat().st_mode & 0o777) == 0o644


LONG_GRID = """\
blocks:
  - name: long
    datasets: [tiny]
    models: [multvae]
    matchers: [none]
    seeds: 1
    params: {epochs: 100000, eval_step: 2, stopping_step: 100000}
"""


def test_a_killed_trial_keeps_a_readable_epoch_log(data_root, tmp_path):
    """SIGKILL in the middle of a trial that would train for hours: every epoch done is in its log, whole."""
    grid = tmp_path / "long.yaml"
    grid.write_text(LONG_GRID)
    results = tmp_path / "results"
    process = subprocess.Popen([sys.executable, "-m", "benchmark.run", "--grid", str(grid), "--no-ray"], cwd=REPO,
                               env=runner_env(data_root, results), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        deadline = time.monotonic() + 180
        logs: list[Path] = []
        while not logs or len(logs[0].read_text().splitlines()) < 5:
            assert process.poll() is None, "the runner ended before training five epochs"
            assert time.monotonic() < deadline, "no five epochs within 180 s"
            time.sleep(0.01)
            logs = list(results.glob(f"long/trials/*/{EPOCH_LOG}"))
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        shown = process.stdout.read()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    (log,) = logs
    epochs = [json.loads(line) for line in log.read_text().splitlines()]  # every line whole JSON
    assert len(epochs) >= 5 and [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    assert all(e["valid"] is not None for e in epochs if e["epoch"] % 2 == 0)
    assert not (log.parent / "record.json").exists()
    assert "| epoch  multvae+none on tiny seed 0  epoch 1/100000  loss " in shown  # the first epoch is shown at once
