"""Layered configuration: the written precedence holds, unknown keys and ill-typed values are
errors that name the key, the value and the layer, dataset aliases follow one rule, `extends:`
merges, and β is resolved to the number a trial runs with."""
import pytest

from baselines.registry import register, unregister
from benchmark.runner.config import (
    AXES,
    COMMAND_LINE,
    ConfigError,
    Layer,
    defaults_files,
    model_defaults,
    protocol_defaults,
    resolve,
)


@pytest.fixture
def toy_model(tmp_path):
    defaults = tmp_path / "toy.yaml"
    defaults.write_text(
        "hidden: 8          # (int)\n"
        "dropout: 0.5       # (float)\n"
        "scale: null        # (float|null)\n"
        "mode: fast         # (str) fast (why) | slow (more (nested) why) | exact: what it trades\n"
        "flag: false        # (bool)\n"
        "learning_rate: 0.01\n"  # a protocol key: the protocol's type comment applies
        "datasets:\n  yelp: {dropout: 0.3}\n  yelp-small: {dropout: 0.2}\n"
        "presets:\n  released: {hidden: 64, train_batch_size: 2048}\n"
    )
    register("toy-config-model", "builtins:object", "a toy", defaults=defaults)
    yield "toy-config-model"
    unregister("toy-config-model")


@pytest.fixture
def registered(tmp_path):
    """Register a toy model whose yaml (and any files it extends) the test writes."""
    names = []

    def make(name: str, files: dict[str, str]) -> str:
        for file, text in files.items():
            (tmp_path / file).write_text(text)
        register(name, "builtins:object", "a toy", defaults=tmp_path / next(iter(files)))
        names.append(name)
        return name

    yield make
    for name in names:
        unregister(name)


def test_precedence_protocol_model_dataset_layers(toy_model):
    base = resolve(toy_model, "amazon")
    assert base["learning_rate"] == 0.01  # model beats protocol
    assert base["eval_step"] == protocol_defaults()["eval_step"]
    assert base["dropout"] == 0.5
    assert resolve(toy_model, "yelp")["dropout"] == 0.3  # dataset beats model
    assert resolve(toy_model, "yelp", {"dropout": 0.1})["dropout"] == 0.1  # overrides beat dataset
    assert resolve(toy_model, "yelp", {"dropout": 0.1}, {"dropout": 0.2})["dropout"] == 0.2  # later layer wins


def test_presets(toy_model):
    config = resolve(toy_model, "amazon", {"preset": "released"})
    assert config["hidden"] == 64 and config["train_batch_size"] == 2048 and config["preset"] == "released"
    assert "preset" not in resolve(toy_model, "amazon")
    assert resolve(toy_model, "amazon", {"preset": "released", "hidden": 32})["hidden"] == 32  # the layer's keys win
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        resolve(toy_model, "amazon", {"preset": "nope"})


def test_a_presets_own_datasets_entry_applies_after_the_preset(registered):
    model = registered("toy-scoped", {"scoped.yaml":
        "hidden: 8   # (int)\nrate: 0.1  # (float)\n"
        "datasets:\n  yelp: {hidden: 16, rate: 0.2}\n"
        "presets:\n  released:\n    hidden: 32\n    datasets:\n      yelp: {hidden: 48}\n      steam: {rate: 0.5}\n"})
    yelp = resolve(model, "yelp", {"preset": "released"})
    assert (yelp["hidden"], yelp["rate"]) == (48, 0.2)  # model < datasets.yelp < preset < preset's datasets.yelp
    assert resolve(model, "yelp")["hidden"] == 16  # without the preset, its entries do not apply
    assert resolve(model, "yelp-small", {"preset": "released"})["hidden"] == 48  # the alias rule
    assert resolve(model, "amazon", {"preset": "released"})["hidden"] == 32  # no entry: the preset's own value
    assert resolve(model, "yelp", {"preset": "released", "hidden": 4})["hidden"] == 4  # the layer's keys win
    assert "datasets" not in resolve(model, "steam", {"preset": "released"})
    bad = registered("toy-scoped-bad", {"bad.yaml": "x: 1  # (int)\npresets:\n  released:\n    datasets:\n"
                                                    "      yelp: {y: 2}\n"})
    with pytest.raises(ConfigError, match=r"presets\.released\.datasets\.yelp: unknown key\(s\) \['y'\]"):
        resolve(bad, "yelp", {"preset": "released"})
    flat = registered("toy-scoped-flat", {"flat.yaml": "x: 1  # (int)\npresets:\n  released:\n    datasets: [1]\n"})
    with pytest.raises(ConfigError, match=r"'presets\.released\.datasets' must be a mapping"):
        resolve(flat, "yelp")


def test_extends_merges_a_presets_datasets_per_entry(registered):
    child = registered("toy-scoped-child", {
        "child.yaml": "extends: parent.yaml\npresets:\n  released:\n    datasets:\n      yelp: {rate: 0.9}\n",
        "parent.yaml": "size: 8    # (int)\nrate: 0.1  # (float)\n"
                       "presets:\n  released:\n    size: 4\n    datasets:\n"
                       "      yelp: {size: 2}\n      steam: {size: 3}\n",
    })
    yelp = resolve(child, "yelp", {"preset": "released"})
    assert (yelp["size"], yelp["rate"]) == (2, 0.9)
    assert resolve(child, "steam", {"preset": "released"})["size"] == 3


def test_unknown_keys_are_rejected(toy_model):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hiden'\]"):
        resolve(toy_model, "amazon", {"hiden": 3})


# --- typed values ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer, message", [
    ({"dropout": "abc"}, "override 1: dropout must be float, not 'abc'$"),
    ({"hidden": True}, "override 1: hidden must be int, not True$"),
    ({"hidden": 1.5}, "override 1: hidden must be int, not 1.5$"),
    ({"hidden": "8"}, "override 1: hidden must be int, not '8'$"),
    ({"flag": 1}, "override 1: flag must be bool, not 1$"),
    ({"scale": float("nan")}, "override 1: scale must be float|null, not nan$"),
    ({"topk": 20}, "override 1: topk must be list, not 20$"),
    ({"mode": "quick"}, r"override 1: unknown mode 'quick' \(choices: fast \| slow \| exact\)$"),
    ({"learner": "adamm"}, r"unknown learner 'adamm' \(did you mean 'adam'\? choices: adam \| adamw \| sgd\)"),
])
def test_ill_typed_values_name_key_value_type_and_layer(toy_model, layer, message):
    with pytest.raises(ConfigError, match=message):
        resolve(toy_model, "amazon", layer)


def test_well_typed_values_are_stored_canonically(toy_model):
    config = resolve(toy_model, "amazon", {"dropout": 0, "scale": 2, "learning_rate": 1, "mode": "exact"})
    assert config["dropout"] == 0.0 and isinstance(config["dropout"], float)  # yaml `0` for a float key is fine
    assert isinstance(config["scale"], float) and isinstance(config["learning_rate"], float)
    assert resolve(toy_model, "amazon", {"scale": None})["scale"] is None
    # one value, one config: `1` and `1.0` for a float key give the same trial
    assert resolve(toy_model, "amazon", {"scale": 1}) == resolve(toy_model, "amazon", {"scale": 1.0})


def test_errors_name_their_source(toy_model):
    with pytest.raises(ConfigError, match=r"^--set: hidden must be int, not 'x'$"):
        resolve(toy_model, "amazon", {}, Layer({"hidden": "x"}, COMMAND_LINE))
    with pytest.raises(ConfigError, match=r"^grid.yaml block 2: dropout"):
        resolve(toy_model, "amazon", Layer({"dropout": "x"}, "grid.yaml block 2"))


@pytest.mark.parametrize("layer, message", [
    ({"epochs": 0}, "epochs=0 must be >= 1"),
    ({"epochs": -5}, "epochs=-5 must be >= 1"),
    ({"eval_step": 0}, "eval_step=0 must be >= 1"),
    ({"stopping_step": 0}, "stopping_step=0 must be >= 1"),
    ({"learning_rate": 0}, r"learning_rate=0.0 must be > 0"),
    ({"dropout": 1.0}, r"dropout=1.0 must be in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout=-0.1 must be in \[0, 1\)"),
    ({"topk": [0, 5]}, "topk=.0, 5. must be a non-empty list of positive ints"),
    ({"topk": []}, r"topk=\[\] must be a non-empty list of positive ints"),
    ({"topk": [5, True]}, r"topk=\[5, True\] must be a non-empty list of positive ints"),
    ({"valid_metric": "recall@50"}, "valid_metric='recall@50' must be recall@K or ndcg@K with K in topk"),
    ({"epochs": 2}, r"epochs=2 must be at least the epoch of the first validation .* "
                    r"\(eval_step=3, first_eval_epoch=None\)"),
    ({"first_eval_epoch": 0}, "first_eval_epoch=0 must be >= 1 or null"),
])
def test_out_of_bounds_values_are_rejected(toy_model, layer, message):
    with pytest.raises(ConfigError, match=f"override 1: {message}"):
        resolve(toy_model, "amazon", layer)


def test_bounds_hold_at_their_edges(toy_model):
    resolve(toy_model, "amazon", {"epochs": 1, "eval_step": 1, "stopping_step": 1, "dropout": 0.0, "topk": [1],
                                  "valid_metric": "ndcg@1"})
    assert resolve(toy_model, "amazon", {"epochs": 2, "first_eval_epoch": 1})["first_eval_epoch"] == 1


def test_a_key_without_type_or_with_a_bad_type_is_an_error(registered):
    untyped = registered("toy-untyped", {"untyped.yaml": "hidden: 8\n"})
    with pytest.raises(ConfigError, match=r"untyped\.yaml: key 'hidden' has no type comment"):
        resolve(untyped, "amazon")
    bad = registered("toy-badtype", {"badtype.yaml": "size: 8   # (integer) what\n"})
    with pytest.raises(ConfigError, match=r"badtype.yaml:1: size: type \(integer\) is not"):
        resolve(bad, "amazon")
    broken = registered("toy-broken", {"broken.yaml": "size: [8\n"})
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid yaml") as error:
        resolve(broken, "amazon")
    assert "\n" not in str(error.value)


def test_unknown_matcher_gets_a_did_you_mean():
    with pytest.raises(ConfigError, match=r"unknown matcher 'mdm' \(did you mean 'mddm'\?"):
        resolve("multvae", "amazon", {"matcher": "mdm"})
    with pytest.raises(ConfigError, match=r"unknown formulation 'relased' \(did you mean 'released'\?"):
        resolve("multvae", "amazon", {"formulation": "relased"})
    with pytest.raises(ConfigError, match=r"unknown weight_init 'torch-default' \(did you mean 'torch_default'\?"):
        resolve("cvga", "amazon", {"weight_init": "torch-default"})


@pytest.mark.parametrize("axis", AXES)
def test_the_command_line_may_not_set_an_axis(toy_model, axis):
    assert set(AXES) == {"model", "dataset", "matcher", "seed"}
    with pytest.raises(ConfigError, match=f"^--set {axis}=...: '{axis}' is an axis of the grid"):
        resolve(toy_model, "amazon", Layer({axis: "x"}, COMMAND_LINE))
    if axis == "seed":  # the grid's own seed layer is not the command line
        assert resolve(toy_model, "amazon", {"seed": 3})["seed"] == 3


# --- β: resolved to the number that runs --------------------------------------------------------

def test_beta_is_resolved_to_the_released_value():
    assert resolve("multvae", "amazon", {"matcher": "mddm"})["beta"] == 0.6
    assert resolve("multvae", "yelp", {"matcher": "godm"})["beta"] == 0.8
    assert resolve("ldiffrec", "steam", {"matcher": "cpdm"})["beta"] == 0.6
    assert resolve("multvae", "steam", {"matcher": "wo_pmn"})["beta"] == 0.5  # the ablations use MDDM's
    assert resolve("multvae", "ml-100k-text", {"matcher": "mddm"})["beta"] == 0.5  # not a paper dataset
    assert resolve("multvae", "amazon", {"matcher": "mddm", "beta": 0})["beta"] == 0.0  # a sweep's value stays
    # matchers without a β store null, whatever a layer said (the number would change nothing)
    assert resolve("multvae", "amazon")["beta"] is None
    assert resolve("multvae", "amazon", {"matcher": "add", "beta": 0.3})["beta"] is None


def test_changing_the_beta_table_changes_the_config_and_the_trial_id(monkeypatch):
    from benchmark.runner.grid import trial_id_of
    from dmrec.matchers import RELEASED_BETA

    before = resolve("multvae", "amazon", {"matcher": "mddm"})
    monkeypatch.setitem(RELEASED_BETA, "mddm", {**RELEASED_BETA["mddm"], "amazon": 0.7})
    after = resolve("multvae", "amazon", {"matcher": "mddm"})
    assert after["beta"] == 0.7
    assert trial_id_of(after, "v1") != trial_id_of(before, "v1")


# --- dataset aliases: one rule ------------------------------------------------------------------

def test_dataset_aliases_follow_one_rule(toy_model):
    assert resolve(toy_model, "yelp-standin")["dropout"] == 0.3  # <paper>-<anything> takes <paper>'s entry
    assert resolve(toy_model, "yelp-small")["dropout"] == 0.2  # unless it has its own
    assert resolve(toy_model, "yelpish")["dropout"] == 0.5  # no '-': not an alias
    assert resolve(toy_model, "ml-100k-text")["dropout"] == 0.5
    # the same rule gives the paper dataset's entry and its released β
    standin = resolve("multvae", "yelp-standin", {"matcher": "mddm"})
    assert (standin["dropout"], standin["beta"]) == (0.3, 0.4)
    assert {k: v for k, v in standin.items() if k != "dataset"} == {
        k: v for k, v in resolve("multvae", "yelp", {"matcher": "mddm"}).items() if k != "dataset"}


# --- extends ------------------------------------------------------------------------------------

def test_extends_merges_keys_datasets_and_presets(registered, tmp_path):
    (tmp_path / "sub").mkdir()
    child = registered("toy-child", {
        "sub/child.yaml": "extends: ../parent.yaml\nsize: 16   # (int) the child's\n"
                          "datasets:\n  steam: {rate: 0.2}\n  yelp: {size: 4}\n"
                          "presets:\n  released: {rate: 0.9}\n",
        "parent.yaml": "size: 8    # (int)\nrate: 0.1  # (float)\n"
                       "datasets:\n  steam: {size: 2}\n  amazon: {rate: 0.3}\n"
                       "presets:\n  released: {size: 32, stopping_step: 5}\n",
    })
    assert resolve(child, "tiny")["size"] == 16 and resolve(child, "tiny")["rate"] == 0.1
    steam = resolve(child, "steam")
    assert (steam["size"], steam["rate"]) == (2, 0.2)  # one entry, merged per key
    assert resolve(child, "amazon")["rate"] == 0.3 and resolve(child, "yelp")["size"] == 4
    released = resolve(child, "tiny", {"preset": "released"})
    assert (released["size"], released["rate"], released["stopping_step"]) == (32, 0.9, 5)
    with pytest.raises(ConfigError, match="rate must be float, not 'x'"):  # types come through the chain
        resolve(child, "tiny", {"rate": "x"})
    assert [p.name for p in defaults_files(child)] == ["parent.yaml", "child.yaml"]


def test_extends_cycles_are_refused(registered):
    looped = registered("toy-loop", {"a.yaml": "extends: b.yaml\nx: 1  # (int)\n",
                                     "b.yaml": "extends: a.yaml\ny: 2  # (int)\n"})
    with pytest.raises(ConfigError, match=r"'extends' makes a cycle \(.*a.yaml -> .*b.yaml -> .*a.yaml\)"):
        resolve(looped, "tiny")
    flat = registered("toy-flat", {"flat.yaml": "x: 1  # (int)\ndatasets:\n  yelp: [1, 2]\n"})
    with pytest.raises(ConfigError, match=r"flat\.yaml: 'datasets' must be a mapping of names to mappings"):
        resolve(flat, "yelp")
    missing = registered("toy-missing", {"c.yaml": "extends: nowhere.yaml\n"})
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: defaults file not found"):
        resolve(missing, "tiny")


def test_alpharec_star_is_alpharec_but_its_user_input():
    assert [p.name for p in defaults_files("alpharec_star")] == ["alpharec.yaml", "alpharec_star.yaml"]
    star, plain = model_defaults("alpharec_star"), model_defaults("alpharec")
    assert star[1:] == plain[1:]  # the same datasets and presets
    assert {k for k in star[0] if star[0][k] != plain[0][k]} == {"user_input"}
    for dataset in ("amazon", "yelp", "steam", "steam-standin", "ml-100k-text"):
        for layer in ({}, {"preset": "released"}):
            a, b = resolve("alpharec_star", dataset, layer), resolve("alpharec", dataset, layer)
            assert {k for k in a if a[k] != b[k]} == {"model", "user_input"}
