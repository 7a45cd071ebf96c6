"""A trial's inputs: resolved once, frozen, a plain dict for Ray and back, and what the record states."""
import dataclasses
import json

import pytest

from baselines.registry import get_spec
from benchmark.runner.execute import run_and_store
from benchmark.runner.grid import expand
from benchmark.runner.inputs import TrialInputs, check_dataset, inputs_of, resolve_inputs
from benchmark.runner.provenance import code_provenance
from benchmark.runner.store import ResultStore


@pytest.fixture
def smoke_trials(data_root):
    return expand("smoke")


def test_inputs_round_trip_through_a_plain_json_dict(smoke_trials):
    for trial in smoke_trials:
        inputs = inputs_of(trial)
        plain = json.loads(json.dumps(inputs.as_dict()))  # what crosses to a Ray worker
        assert plain == {"trial_id": trial.trial_id, "grid": "smoke", "config": trial.config,
                         "dataset_version": trial.dataset_version, "provenance": code_provenance(trial.model)}
        again = TrialInputs.from_dict(plain)
        assert again == inputs and again.as_dict() == plain
        assert again.model_class is get_spec(trial.model).load_class() is inputs.model_class


def test_inputs_cannot_change_after_they_are_resolved(smoke_trials):
    inputs = inputs_of(smoke_trials[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.dataset_version = "other"
    config = inputs.config
    config["epochs"] = 999
    inputs.provenance["code_hash"] = "changed"
    assert inputs.config["epochs"] == 6 and inputs.provenance == code_provenance(inputs.model)


def test_a_dict_without_every_field_is_refused():
    with pytest.raises(ValueError, match=r"^trial inputs lack dataset_version, provenance$"):
        TrialInputs.from_dict({"trial_id": "t", "grid": "g", "config": {"model": "multvae"}})


def test_a_config_alone_gets_the_prepared_datasets_verified_version(smoke_trials):
    trial = smoke_trials[0]
    inputs = resolve_inputs(trial.config)
    assert inputs.dataset_version == trial.dataset_version and inputs.trial_id is None
    check_dataset(inputs)
    with pytest.raises(RuntimeError, match=r"^dataset 'tiny' changed since the grid was expanded \(version old ->"):
        check_dataset(dataclasses.replace(inputs, dataset_version="old"))


def test_the_record_states_the_inputs_it_was_handed(smoke_trials, tmp_path):
    """The provenance and dataset version stored are the inputs', not computed again below the runner."""
    (trial,) = [t for t in smoke_trials if t.model == "lightgcn"]
    handed = {**code_provenance("lightgcn"), "code_hash": "resolved-by-the-runner"}
    inputs = dataclasses.replace(inputs_of(trial), provenance_json=json.dumps(handed))
    outcome = run_and_store(inputs, str(tmp_path), threads=1)
    assert outcome["status"] == "finished"
    record = ResultStore("smoke", tmp_path).read_record(trial.trial_id)
    assert record["provenance"] == handed
    assert record["dataset_version"] == trial.dataset_version and record["config"] == trial.config
