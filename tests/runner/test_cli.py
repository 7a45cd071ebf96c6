"""The runner's command line against hostile and broken input: one line on stderr, no traceback, the
exit code of the convention (2 bad command line/grid/config, 1 bad data or failed trials, 0 done,
130 interrupted), and nothing stored changed."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from benchmark.runner.grid import MAX_SEEDS, Narrowing, expand
from benchmark.runner.store import ResultStore
from tests.runner.test_run import REPO, run, runner_env, snapshot


def one_line_error(done, code: int, *fragments: str, trained: bool = False) -> str:
    """The one `error:` line; where a trial trained, RecBole's own warnings may come before it."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    if trained:
        lines = [line for line in lines if line.startswith("error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_help_shows_defaults_and_version(tmp_path):
    shown = subprocess.run([sys.executable, "-m", "benchmark.run", "--help"], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "(default: 0.0)" in shown.stdout and "--shard I/N" in shown.stdout
    assert "--rerun-stale" in shown.stdout
    version = subprocess.run([sys.executable, "-m", "benchmark.run", "--version"], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("dmrec-bench ")


ALIAS_BOMB = """
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
datasets: [tiny]
models: [multvae]
seeds: 1
sweep: {dropout: *c}
"""


@pytest.mark.parametrize(("args", "fragments"), [
    (["--seeds", "10000000"], [f"seeds must be a count from 1 to {MAX_SEEDS}"]),
    (["--set", "matcher=godm"], ["'matcher' is an axis of the grid", "--matchers"]),
    (["--set", "seed=3"], ["'seed' is an axis of the grid"]),
    (["--set", "dataset=tiny"], ["'dataset' is an axis of the grid"]),
    (["--matchers", "foo"], ["unknown matcher 'foo'"]),
    (["--matchers", "mdm"], ["unknown matcher 'mdm' (did you mean 'mddm'?)"]),
    (["--models", "multvea"], ["unknown model 'multvea' (did you mean 'multvae'?)"]),
    (["--datasets", "tinny"], ["unknown dataset 'tinny' (did you mean 'tiny"]),
    (["--shard", "0/3"], []),
])
def test_bad_command_lines(data_root, tmp_path, args, fragments):
    done = run(["--grid", "smoke", "--dry-run", *args], data_root, tmp_path / "results", timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    if fragments:
        one_line_error(done, 2, *fragments)
    assert not (tmp_path / "results").exists()


def test_bad_grid_names_and_files(data_root, tmp_path):
    one_line_error(run(["--grid", "tabel2", "--dry-run"], data_root, tmp_path, timeout=60), 2,
                   "no grid named 'tabel2' (did you mean 'table2'?)")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    one_line_error(run(["--grid", str(bomb), "--dry-run"], data_root, tmp_path, timeout=60), 2,
                   str(bomb), "anchors and aliases are not allowed")
    huge = tmp_path / "huge.yaml"
    huge.write_text("datasets: [tiny]\nmodels: [multvae]\nseeds: 1\n" + "#" * (2 * 2**20) + "\n")
    one_line_error(run(["--grid", str(huge), "--dry-run"], data_root, tmp_path, timeout=60), 2, "larger than 1 MB")
    wide = tmp_path / "wide.yaml"
    wide.write_text("datasets: [tiny]\nmodels: [multvae]\nmatchers: [none, godm, cpdm, mddm]\nseeds: 1000\n"
                    f"sweep: {{dropout: {[i / 1000 for i in range(100)]}}}\n")
    one_line_error(run(["--grid", str(wide), "--dry-run"], data_root, tmp_path, timeout=60), 2,
                   "expands to 400,000 trials, more than the limit of 100,000")


def test_results_root_that_is_a_file_or_under_one(data_root, tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    for root in (a_file, a_file / "below"):
        done = run(["--grid", "smoke", "--no-ray", "--results", str(root)], data_root, tmp_path, timeout=60)
        one_line_error(done, 2, "the results folder cannot be written", f"{a_file} is a file")
        assert "to run" not in done.stdout  # nothing started
    assert a_file.read_text() == "not a folder"


def test_unprepared_dataset_lists_its_trials_and_a_run_names_the_command(data_root, tmp_path):
    dry = run(["--grid", "table2", "--dry-run"], data_root, tmp_path, timeout=120)
    assert dry.returncode == 0, dry.stderr
    rows = [line for line in dry.stdout.splitlines() if " on amazon " in line]
    assert len(rows) == 3 * 4 * 10 and all(line.startswith("- ") and "dataset not prepared" in line for line in rows)
    assert "360 trials in grid 'table2': 360 dataset not prepared" in dry.stdout
    assert "python -m benchmark.data prepare amazon" in dry.stdout
    real = run(["--grid", "table2", "--no-ray", "--datasets", "amazon", "--models", "multvae", "--seeds", "1"],
               data_root, tmp_path / "results", timeout=120)
    one_line_error(real, 1, "dataset 'amazon' is not prepared", "python -m benchmark.data prepare amazon")
    assert not (tmp_path / "results").exists()


def test_damaged_prepared_files_stop_before_any_trial(data_root, tmp_path):
    damaged = tmp_path / "data"
    shutil.copytree(data_root / "prepared" / "tiny", damaged / "prepared" / "tiny")
    train = damaged / "prepared" / "tiny" / "tiny.train.inter"
    train.write_text("\n".join(train.read_text().splitlines()[:-5]) + "\n")
    for args in (["--dry-run"], ["--no-ray"]):
        done = run(["--grid", "smoke", "--models", "lightgcn", *args], damaged, tmp_path / "results", timeout=60)
        one_line_error(done, 1, "tiny", "meta.json")
    assert not (tmp_path / "results" / "smoke" / "trials").exists()


def test_missing_recbole_is_one_line_before_any_trial(data_root, tmp_path):
    code = ("import sys; sys.modules['recbole'] = None; sys.argv = sys.argv[:1]\n"
            "from benchmark.run import main; raise SystemExit(main(['--grid', 'smoke', '--no-ray']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=runner_env(data_root, tmp_path / "results"),
                          capture_output=True, text=True, timeout=60)
    one_line_error(done, 1, "RecBole is not installed", "pip install --no-deps recbole==1.2.1")
    assert not list((tmp_path / "results").glob("smoke/trials/*"))


ENDLESS_GRID = """# one trial that ends, then one that trains until it is stopped
blocks:
  - {datasets: [tiny], models: [lightgcn], seeds: 1, params: {epochs: 2, eval_step: 1}}
  - {datasets: [tiny], models: [multvae], seeds: 1,
     params: {epochs: 1000000000, eval_step: 1000000000, stopping_step: 1000000000}}
"""


def endless_grid(folder) -> str:
    """The path of a grid (store name `endless`) whose second trial never ends by itself."""
    path = folder / "endless.yaml"
    path.write_text(ENDLESS_GRID)
    return str(path)


def wait_until_training(process: subprocess.Popen, store_folder, timeout: float = 240) -> None:
    """Until the first trial is stored and the endless one holds its claim (written before it trains,
    removed after): whenever the signal then lands, the runner is mid-training, never done."""
    deadline = time.monotonic() + timeout
    while not (list(store_folder.glob("trials/*/record.json")) and list(store_folder.glob("claims/*"))):
        assert process.poll() is None, f"the runner ended before training:\n{process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"no trial trained within {timeout:g} s"
        time.sleep(0.01)


def test_ctrl_c_is_one_line_and_resumable(data_root, tmp_path):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmark.run", "--grid", endless_grid(tmp_path), "--no-ray"]
    process = subprocess.Popen(command, cwd=REPO, env=runner_env(data_root, results), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until_training(process, results / "endless")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "interrupted: 1 trials stored, rerun the same command to resume"
    assert len(list(results.glob("endless/trials/*/record.json"))) == 1
    assert "Traceback" not in stderr and "failed/" not in stderr
    assert ResultStore("endless", root=results).claimed_ids() == {}
    assert not list((results / "endless" / "claims").iterdir())
    assert not (results / "endless" / "failed").exists()
    again = subprocess.run([*command, "--dry-run"], cwd=REPO, env=runner_env(data_root, results),
                           capture_output=True, text=True, timeout=60)
    assert "2 trials in grid 'endless': 1 done, 1 pending" in again.stdout  # the rerun resumes there


def test_rerun_stale_replaces_only_stale_records(data_root, tmp_path):
    results = tmp_path / "results"
    args = ["--grid", "smoke", "--no-ray", "--models", "lightgcn"]
    assert run(args, data_root, results).returncode == 0
    (trial,) = expand("smoke", Narrowing(models=["lightgcn"]))
    path = results / "smoke" / "trials" / trial.trial_id / "record.json"
    content = json.loads(path.read_text())
    assert content["provenance"]["code_files"] > 10
    content["provenance"]["code_hash"] = "0" * 64
    path.write_text(json.dumps(content))
    dry = run([*args, "--dry-run"], data_root, results)
    assert f"{trial.trial_id}  stale" in dry.stdout and "1 stale" in dry.stdout
    plain = run(args, data_root, results)
    assert plain.returncode == 0 and "0 to run" in plain.stdout and "(stale)" in plain.stdout
    assert json.loads(path.read_text()) == content
    rerun = run([*args, "--rerun-stale"], data_root, results)
    assert rerun.returncode == 0 and "1 to run" in rerun.stdout and "(stale)" not in rerun.stdout
    after = json.loads(path.read_text())
    assert after["provenance"]["code_hash"] != "0" * 64 and after["finished_at"] >= content["finished_at"]
    again = run([*args, "--rerun-stale"], data_root, results)
    assert "0 to run" in again.stdout and snapshot(results / "smoke") == {f"trials/{trial.trial_id}/record.json":
                                                                          path.read_bytes()}


def test_a_full_filesystem_stops_the_grid_in_one_line(data_root, tmp_path):
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); test_execute covers ENOSPC in-process")
    try:
        (mount / "smoke").mkdir()
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        (mount / "filler").write_bytes(b"\0" * (free - 4096))  # one page left: the probe fits, a record does not
        done = run(["--grid", "smoke", "--no-ray", "--models", "lightgcn", "--results", str(mount)], data_root,
                   tmp_path, timeout=120)
        last = one_line_error(done, 1, "cannot store trial", "No space left on device", "the grid stops here",
                              trained=True)
        assert done.stderr.strip().splitlines()[-1] == last
        assert ResultStore("smoke", root=mount).finished_ids() == set()
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_wrong_record_never_blocks_the_grid(data_root, tmp_path):
    results = tmp_path / "results"
    (trial,) = expand("smoke", Narrowing(models=["lightgcn"]))
    path = results / "smoke" / "trials" / trial.trial_id / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"trial_id": trial.trial_id, "status": "finished", "config": [1], "metrics": "x"}))
    for extra in (["--retry-failed"], ["--models", "multvae", "--dry-run"]):
        done = run(["--grid", "smoke", "--no-ray", "--seeds", "1", *extra], data_root, results, timeout=120)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
    args = ["--grid", "smoke", "--no-ray", "--models", "lightgcn"]
    done = run(args, data_root, results)
    assert done.returncode == 0 and "1 to run" in done.stdout, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if str(path) in line]
    assert len(warnings) == 1 and "not a valid finished record ('grid' is missing" in warnings[0]
    assert ResultStore("smoke", root=results).read_record(trial.trial_id)["grid"] == "smoke"  # replaced by the rerun


def _in_process(main, argv, capsys) -> tuple[int, str]:
    """(exit status, the one stderr line) of a command line's main, asserting one line and no traceback."""
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return status, err[0]


EMPTY = "an empty list; name at least one, or leave the option out for all"


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "", "--dry-run"], f"error: --models: {EMPTY}"),
    (["--datasets", ",", "--dry-run"], f"error: --datasets: {EMPTY}"),
    (["--matchers", " , ", "--dry-run"], f"error: --matchers: {EMPTY}"),
    (["--seeds", ",", "--dry-run"], f"error: --seeds: {EMPTY}"),
    (["--address", ""], "error: --address '': empty; leave the option out to start a private local Ray instance"),
    (["--results", " "], "error: --results ' ': empty; leave the option out for $DMREC_RESULTS, else <repo>/results"),
    (["--cpus-per-trial", "inf", "--no-ray"], "error: --cpus-per-trial must be a finite number, got inf"),
    (["--gpus-per-trial", "inf"], "error: --gpus-per-trial must be a finite number, got inf"),
    (["--gpus-per-trial=-inf"], "error: --gpus-per-trial must be a finite number, got -inf"),
])
def test_values_read_as_unset_or_infinite_are_refused(data_root, tmp_path, monkeypatch, capsys, args, message):
    from benchmark.run import main

    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "results"))
    assert _in_process(main, ["--grid", "smoke", *args], capsys) == (2, message)
    assert not (tmp_path / "results").exists()


def test_a_grid_key_given_twice_is_refused_naming_it(data_root, tmp_path, monkeypatch, capsys):
    from benchmark.run import main

    grid = tmp_path / "twice.yaml"
    grid.write_text("datasets: [tiny]\nmodels: [multvae]\nseeds: 1\nparams: {dropout: 0.1, dropout: 0.5}\n")
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "results"))
    assert _in_process(main, ["--grid", str(grid), "--dry-run"], capsys) == (
        2, f"error: {grid}: line 4: the key 'dropout' is given twice in one mapping (yaml would keep the last "
           "silently)")


@pytest.fixture
def loop(tmp_path):
    """A path whose symbolic links point at each other."""
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    return tmp_path / "loop-a"


def test_symlink_loops_as_roots_are_one_line(data_root, tmp_path, monkeypatch, capsys, loop):
    from benchmark.data.__main__ import main as data_main
    from benchmark.run import main as run_main

    reason = "not usable as a folder (its symbolic links form a loop)"
    monkeypatch.setenv("DMREC_RESULTS", str(loop))
    assert _in_process(run_main, ["--grid", "smoke", "--dry-run"], capsys) == (
        2, f"error: $DMREC_RESULTS {loop}: {reason}")
    monkeypatch.setenv("DMREC_RESULTS", str(tmp_path / "results"))
    assert _in_process(run_main, ["--grid", "smoke", "--dry-run", "--results", str(loop / "below")], capsys) == (
        2, f"error: --results {loop / 'below'}: {reason}")
    monkeypatch.setenv("DMREC_DATA", str(loop))
    assert _in_process(run_main, ["--grid", "smoke", "--dry-run"], capsys) == (
        1, f"error: $DMREC_DATA {loop}: {reason}")
    for command in (["prepare", "tiny"], ["stats"]):
        assert _in_process(data_main, command, capsys) == (1, f"error: $DMREC_DATA {loop}: {reason}")
    assert not (tmp_path / "results").exists()


def test_analysis_refuses_unusable_figure_and_results_folders(data_root, tmp_path, monkeypatch, capsys, loop):
    from benchmark.analysis.__main__ import main
    from tests.analysis.synthetic import make_record, write_trial

    results = tmp_path / "results"
    monkeypatch.setenv("DMREC_RESULTS", str(results))
    write_trial(results, "hostile", make_record({"model": "multvae", "dataset": "tiny", "matcher": "none", "seed": 1},
                                                0.1))
    (tmp_path / "a-file").write_text("x")
    for figures, problem in (("/dev/null", "/dev/null is not a folder"),
                             (tmp_path / "a-file" / "below", f"{tmp_path / 'a-file'} is a file, not a folder"),
                             (loop, "not usable as a folder (its symbolic links form a loop)")):
        assert _in_process(main, ["--grid", "hostile", "--figures", str(figures)], capsys) == (
            2, f"error: --figures {figures}: {problem}")
    assert _in_process(main, ["--grid", "hostile", "--results", str(loop)], capsys) == (
        2, f"error: --results {loop}: not usable as a folder (its symbolic links form a loop)")
    assert not (results / "tables").exists() and (tmp_path / "a-file").read_text() == "x"
