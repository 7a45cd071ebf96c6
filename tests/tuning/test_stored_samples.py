"""Stored samples of any shape: a hand-edited sample or failure is named once and left out (it counts
as not spent, so a rerun samples again), never a traceback."""
import json

import pytest

from benchmark.runner.store import ResultStore
from benchmark.tuning.history import best_sample, cell_samples
from tests.tuning.samples import BROKEN_SAMPLES, edit_record, mddm_cell, store_sample


@pytest.mark.parametrize("case", sorted(BROKEN_SAMPLES))
def test_a_broken_sample_is_left_out_with_one_line(tmp_path, capsys, case):
    cell, store = mddm_cell(), ResultStore("smoke_search", root=tmp_path)
    good = store_sample(store, cell, 0.001, 0.30)
    bad = store_sample(store, cell, 0.003, 0.40)
    edit_record(store, bad, BROKEN_SAMPLES[case])
    capsys.readouterr()
    samples = cell_samples(store, cell)
    assert [s.trial_id for s in samples] == [good] and best_sample(samples).score == 0.30
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(store.record_path(bad)) in err[0] and "Traceback" not in err[0]


def test_a_failure_with_a_config_of_another_shape_is_left_out(tmp_path, capsys):
    cell, store = mddm_cell(), ResultStore("smoke_search", root=tmp_path)
    good = store_sample(store, cell, 0.001, 0.30)
    store.write_failed("f1", cell.sampled_config({"learning_rate": 0.002}), "boom")
    path = store.failed_path("f1")
    path.write_text(json.dumps({**json.loads(path.read_text()), "config": [1, 2]}))
    assert [s.trial_id for s in cell_samples(store, cell)] == [good]
    assert f"{path}: not a valid failure record (config is [1, 2], not an object)" in capsys.readouterr().err


def test_a_sample_is_read_with_its_curve_and_seconds(tmp_path):
    cell, store = mddm_cell(), ResultStore("smoke_search", root=tmp_path)
    trial_id = store_sample(store, cell, 0.001, 0.30)
    [sample] = cell_samples(store, cell)
    assert (sample.trial_id, sample.sampled, sample.score, sample.validations, sample.ended, sample.seconds) == \
        (trial_id, {"learning_rate": 0.001, "dropout": 0.5, "anneal_cap": 1.0, "beta": 0.5}, 0.30, (0.30, 0.0),
         "completed", 3.0)
