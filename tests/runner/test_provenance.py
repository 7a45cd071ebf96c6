"""Code provenance: which files a model's hash covers, and that editing one model marks only its trials stale."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from benchmark.core.paths import REPO_ROOT
from benchmark.runner.provenance import code_files, code_provenance, hashed_content, imported_modules, is_stale


def relative(files):
    return {p.relative_to(REPO_ROOT).as_posix() for p in files if p.is_relative_to(REPO_ROOT)}


def test_a_models_code_is_its_closure_and_nothing_else():
    multvae, lightgcn = relative(code_files("multvae")), relative(code_files("lightgcn"))
    for shared in ("benchmark/runner/trial.py", "benchmark/runner/config.py", "benchmark/runner/protocol.yaml",
                   "benchmark/runner/compat.py", "benchmark/runner/training/trainer.py", "benchmark/data/layout.py"):
        assert shared in multvae and shared in lightgcn, shared
    assert {"dmrec/models/multvae.py", "dmrec/models/multvae.yaml", "dmrec/models/base.py", "dmrec/matchers.py",
            "dmrec/pmn.py"} <= multvae
    assert {"baselines/lightgcn/lightgcn.py", "baselines/lightgcn/lightgcn.yaml"} <= lightgcn
    assert not any(p.startswith("dmrec/models/multvae") for p in lightgcn)
    assert not any(p.startswith("baselines/lightgcn/lightgcn.py") for p in multvae)
    for files in (multvae, lightgcn):
        assert not any(p.startswith(("benchmark/analysis/", "tests/", "docs/")) for p in files)
        assert not {"benchmark/run.py", "benchmark/runner/schedule.py", "benchmark/runner/progress.py",
                    "README.md"} & files
    provenance = code_provenance("multvae")
    assert set(provenance) == {"commit", "dirty", "code_hash", "code_files"}
    assert len(provenance["code_hash"]) == 64 and provenance["code_files"] == len(code_files("multvae"))


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    package = tmp_path / "benchmark" / "sub"
    package.mkdir(parents=True)
    (tmp_path / "benchmark" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "leaf.py").write_text("def f():\n    import dmrec.pmn\n    from . import sibling\n"
                                     "    from ..other import thing\n")
    names = imported_modules(package / "leaf.py", tmp_path)
    assert {"dmrec", "dmrec.pmn", "benchmark.sub", "benchmark.sub.sibling", "benchmark.other"} <= names


def clone(tmp_path) -> Path:
    """A scratch copy of the code (not the venv, data or results)."""
    root = tmp_path / "clone"
    for folder in ("benchmark", "dmrec", "baselines"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def in_clone(root: Path, code: str, env_extra: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), **env_extra})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_editing_one_model_marks_only_its_trials_stale(data_root, tmp_path):
    root, results = clone(tmp_path), tmp_path / "results"
    env = {"DMREC_DATA": str(data_root), "DMREC_RESULTS": str(results)}
    # store a record for every smoke trial, made by the clone's code as it is now
    in_clone(root, """
from benchmark.runner.grid import expand
from benchmark.runner.provenance import code_provenance
from benchmark.runner.store import ResultStore
store = ResultStore("smoke")
for t in expand("smoke"):
    store.write_finished(t.trial_id, {"config": t.config, "metrics": {"test": {"recall@20": 0.1, "ndcg@20": 0.1}},
                                      "best_epoch": 2, "epochs_run": 4, "provenance": code_provenance(t.model)})
""", env)
    fresh = in_clone(root, "from benchmark.run import main; main(['--grid', 'smoke', '--dry-run'])", env)
    assert "5 done" in fresh and "stale" not in fresh

    model_file = root / "dmrec" / "models" / "multvae.py"
    model_file.write_text(model_file.read_text() + "\n# an edit\n")
    edited = in_clone(root, "from benchmark.run import main; main(['--grid', 'smoke', '--dry-run'])", env)
    states = sorted((line.split()[1], line.split()[2].partition("+")[0])
                    for line in edited.splitlines() if " on tiny " in line)
    assert states == [("done", "lightgcn"), *[("stale", "multvae")] * 4]
    assert "1 done, 4 stale" in edited and "--rerun-stale" in edited


def test_records_without_provenance_or_from_other_code_are_stale():
    current = code_provenance("lightgcn")
    assert is_stale({"config": {"model": "lightgcn"}})
    assert is_stale({"config": {"model": "lightgcn"}, "provenance": {**current, "code_hash": "0" * 64}})
    assert not is_stale({"config": {"model": "lightgcn"}, "provenance": dict(current)})
    assert is_stale({"config": {"model": "no-such-model"}, "provenance": dict(current)})
    assert json.loads(json.dumps(current)) == current  # stored as plain JSON


def test_dirty_names_an_edit_to_a_models_own_files(tmp_path):
    root = clone(tmp_path)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *command], cwd=root, check=True, capture_output=True)
    show = ("import json; from benchmark.runner.provenance import code_provenance; "
            "print(json.dumps({m: code_provenance(m) for m in ('multvae', 'lightgcn')}))")
    clean = json.loads(in_clone(root, show, {}))
    assert clean["multvae"]["dirty"] is False and clean["lightgcn"]["dirty"] is False
    assert len(clean["multvae"]["commit"]) == 40
    defaults = root / "dmrec" / "models" / "multvae.yaml"
    defaults.write_text(defaults.read_text().replace("\nhidden_size: 600", "\nhidden_size: 601", 1))
    edited = json.loads(in_clone(root, show, {}))
    assert edited["multvae"]["dirty"] is True and edited["lightgcn"]["dirty"] is False
    assert edited["multvae"]["code_hash"] != clean["multvae"]["code_hash"]
    assert edited["lightgcn"] == clean["lightgcn"]


def test_a_yaml_counts_by_its_values_not_its_comments_or_search_ranges(tmp_path):
    original = (REPO_ROOT / "dmrec" / "models" / "multvae.yaml").read_text()
    edited = tmp_path / "multvae.yaml"
    edited.write_text(original.replace("# (int) encoder/decoder", "# (int) the encoder/decoder", 1)
                      .replace("learning_rate: {low: 1.0e-4,", "learning_rate: {low: 1.0e-5,", 1) + "\n# a comment\n")
    assert edited.read_text() != original
    assert hashed_content(edited) == hashed_content(REPO_ROOT / "dmrec" / "models" / "multvae.yaml")
    edited.write_text(original.replace("\nlatent_dim: 200", "\nlatent_dim: 100", 1))
    assert hashed_content(edited) != hashed_content(REPO_ROOT / "dmrec" / "models" / "multvae.yaml")


def test_a_model_hash_covers_its_extends_chain():
    star = {path.name for path in code_files("alpharec_star")}
    assert {"alpharec.yaml", "alpharec_star.yaml", "protocol.yaml"} <= star


def test_a_copy_names_the_commit_it_was_given(tmp_path, monkeypatch):
    """A copied tree (rsync to a cluster, a GPU box; its .git absent or older than its files)
    records $DMREC_COMMIT when set; otherwise a checkout records its HEAD, and a copy nothing."""
    from benchmark.runner.checkout import COMMIT_VARIABLE, source_commit

    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip()
    monkeypatch.setenv(COMMIT_VARIABLE, "0123abc")
    assert source_commit(tmp_path) == "0123abc" == source_commit(REPO_ROOT)
    monkeypatch.delenv(COMMIT_VARIABLE)
    assert source_commit(REPO_ROOT) == head
    assert source_commit(tmp_path) is None
