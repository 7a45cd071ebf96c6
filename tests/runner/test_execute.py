"""run_and_store: a write failure after training is that trial's failure; a store that takes nothing stops the grid."""
import errno
import os

import pytest

from benchmark.runner import store as store_module
from benchmark.runner.execute import run_and_store
from benchmark.runner.grid import Narrowing, expand
from benchmark.runner.inputs import inputs_of
from benchmark.runner.store import ResultStore, StoreUnwritable


def lightgcn_trial():
    (trial,) = expand("smoke", Narrowing(models=["lightgcn"]))
    return trial


def failing_replace(only: str | None):
    real = os.replace

    def replace(source, target):
        if only is None or str(target).endswith(only):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real(source, target)
    return replace


def test_a_record_that_cannot_be_written_is_recorded_as_the_trials_failure(data_root, tmp_path, monkeypatch):
    trial = lightgcn_trial()
    monkeypatch.setattr(store_module.os, "replace", failing_replace("record.json"))
    outcome = run_and_store(inputs_of(trial), str(tmp_path), threads=1)
    assert outcome["status"] == "failed"
    assert outcome["error"].startswith("storing the result failed:") and "No space left on device" in outcome["error"]
    store = ResultStore("smoke", root=tmp_path)
    assert store.failed_ids() == {trial.trial_id} and store.finished_ids() == set()
    assert store.read_failed(trial.trial_id)["error"] == outcome["error"]
    assert store.claimed_ids() == {} and not list(tmp_path.glob("smoke/**/*.tmp"))


def test_a_store_that_takes_nothing_raises_store_unwritable(data_root, tmp_path, monkeypatch):
    trial = lightgcn_trial()
    store = ResultStore("smoke", root=tmp_path)
    store.write_finished("other", {"config": {"model": "lightgcn", "dataset": "tiny", "seed": 0},
                                   "metrics": {"test": {"recall@20": 0.2}}, "best_epoch": 2})
    before = store.record_path("other").read_bytes()
    monkeypatch.setattr(store_module.os, "replace", failing_replace(None))
    with pytest.raises(StoreUnwritable, match=r"nor its failure .*No space left on device.*the grid stops here"):
        run_and_store(inputs_of(trial), str(tmp_path), threads=1)
    assert store.record_path("other").read_bytes() == before and store.claimed_ids() == {}
