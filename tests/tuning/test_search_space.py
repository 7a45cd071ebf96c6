"""A model yaml's `search:` section: every registered model has one, each range is typed and
bounded like the key it searches, and the section never becomes a config key of a trial."""
import pytest

from baselines.registry import REGISTRY, register, unregister
from benchmark.core.errors import ConfigError
from benchmark.runner.config import known_keys, resolve
from benchmark.tuning.space import SearchRange, search_space


@pytest.mark.parametrize("model", list(REGISTRY))
def test_every_registered_model_has_a_valid_search_space(model):
    space = search_space(model)
    assert space, f"{model}: no `search:` section in its yaml"
    assert set(space) <= known_keys(model)
    assert "search" not in resolve(model, "amazon")  # a structure key, like datasets/presets


def test_alpharec_star_inherits_alpharec_ranges_through_extends():
    assert search_space("alpharec_star") == search_space("alpharec")


def test_ranges_are_read_with_their_types():
    space = search_space("lightgcn")
    assert space["learning_rate"] == SearchRange("learning_rate", 1e-4, 1e-2, True)
    assert space["n_layers"] == SearchRange("n_layers", choices=(1, 2, 3, 4))
    assert isinstance(space["learning_rate"].low, float) and not space["learning_rate"].is_int


@pytest.fixture
def toy(tmp_path):
    names = []

    def make(search: str) -> str:
        name = f"toy-search-{len(names)}"
        path = tmp_path / f"{name}.yaml"
        path.write_text("hidden: 8        # (int)\n"
                        "dropout: 0.5     # (float)\n"
                        "mode: fast       # (str) fast | slow\n"
                        "search:\n" + search)
        register(name, "builtins:object", "a toy", defaults=path)
        names.append(name)
        return name

    yield make
    for name in names:
        unregister(name)


def test_a_good_toy_space(toy):
    space = search_space(toy("  hidden: {low: 4, high: 64, log: true}\n"
                             "  dropout: {low: 0.0, high: 0.9}\n"
                             "  mode: {choices: [fast, slow]}\n"
                             "  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n"))
    assert space["hidden"].is_int and (space["hidden"].low, space["hidden"].high, space["hidden"].log) == (4, 64, True)
    assert space["dropout"] == SearchRange("dropout", 0.0, 0.9, False)
    assert space["mode"].choices == ("fast", "slow")


@pytest.mark.parametrize(("entry", "message"), [
    ("nope: {low: 1, high: 2}", "declares no key 'nope'"),
    ("seed: {low: 1, high: 2}", "'seed' is an axis of the grid"),
    ("dropout: {low: 0.5, high: 0.2}", "low (0.5) must be below high (0.2)"),
    ("dropout: {low: 0.1, high: 1.0}", "high dropout=1.0 must be in [0, 1)"),
    ("learning_rate: {low: 0.0, high: 0.1, log: true}", "low learning_rate=0.0 must be > 0"),
    ("hidden: {low: 0, high: 8, log: true}", "a log range needs low > 0"),
    ("hidden: {low: 1.5, high: 8}", "low must be an int"),
    ("dropout: {low: 0.1, high: 0.5, log: yes-please}", "log must be true or false"),
    ("dropout: {low: 0.1}", "expected {low, high, log: true|false} or {choices: [...]}"),
    ("dropout: {low: 0.1, high: 0.5, choices: [0.2, 0.3]}", "expected {low, high"),
    ("mode: {low: 1, high: 2}", "only int and float keys take a low..high range"),
    ("mode: {choices: [fast, quick]}", "unknown mode 'quick'"),
    ("mode: {choices: [fast]}", "at least two values"),
    ("hidden: {choices: [4, 4]}", "repeat a value"),
    ("dropout: {choices: [0.1, 1.5]}", "choice dropout=1.5 must be in [0, 1)"),
])
def test_bad_ranges_are_one_line_errors_naming_file_and_key(toy, entry, message):
    name = toy(f"  {entry}\n")
    with pytest.raises(ConfigError) as error:
        search_space(name)
    text = str(error.value)
    assert message in text and f"{name}.yaml search.{entry.split(':')[0]}" in text and "\n" not in text


def test_an_extending_yaml_replaces_a_range_whole(tmp_path):
    (tmp_path / "base.yaml").write_text("size: 8  # (int)\nrate: 0.1  # (float)\nsearch:\n"
                                        "  size: {low: 2, high: 16, log: true}\n  rate: {low: 0.01, high: 0.5}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nsearch:\n  size: {choices: [4, 8]}\n")
    register("toy-search-child", "builtins:object", "a toy", defaults=tmp_path / "child.yaml")
    try:
        space = search_space("toy-search-child")
    finally:
        unregister("toy-search-child")
    assert space["size"] == SearchRange("size", choices=(4, 8))
    assert space["rate"] == SearchRange("rate", 0.01, 0.5, False)
