"""Layered configuration: the written precedence holds and unknown keys are errors."""
import pytest

from benchmark.config import ConfigError, protocol_defaults, resolve
from benchmark.models import register, unregister


@pytest.fixture
def toy_model(tmp_path):
    defaults = tmp_path / "toy.yaml"
    defaults.write_text(
        "hidden: 8          # (int)\n"
        "dropout: 0.5       # (float)\n"
        "learning_rate: 0.01\n"
        "datasets:\n  yelp: {dropout: 0.3}\n"
        "presets:\n  public: {hidden: 64, train_batch_size: 2048}\n"
    )
    register("toy-config-model", "builtins:object", "a toy", defaults=defaults)
    yield "toy-config-model"
    unregister("toy-config-model")


def test_precedence_protocol_model_dataset_layers(toy_model):
    base = resolve(toy_model, "amazon")
    assert base["learning_rate"] == 0.01  # model beats protocol
    assert base["eval_step"] == protocol_defaults()["eval_step"]
    assert base["dropout"] == 0.5
    assert resolve(toy_model, "yelp")["dropout"] == 0.3  # dataset beats model
    assert resolve(toy_model, "yelp", {"dropout": 0.1})["dropout"] == 0.1  # overrides beat dataset
    assert resolve(toy_model, "yelp", {"dropout": 0.1}, {"dropout": 0.2})["dropout"] == 0.2  # later layer wins


def test_presets(toy_model):
    config = resolve(toy_model, "amazon", {"preset": "public"})
    assert config["hidden"] == 64 and config["train_batch_size"] == 2048 and config["preset"] == "public"
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        resolve(toy_model, "amazon", {"preset": "nope"})


def test_unknown_keys_are_rejected(toy_model):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hiden'\]"):
        resolve(toy_model, "amazon", {"hiden": 3})
