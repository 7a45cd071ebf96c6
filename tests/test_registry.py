"""Every registered model trains on the tiny fixture and ranks correctly; the registry lists them."""
import subprocess
import sys

import pytest

from benchmark.models import REGISTRY, get_spec
from tests.model_checks import check_trains_and_ranks

BUILTIN = sorted(REGISTRY)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_registered_model_trains_and_ranks(name, data_root):
    check_trains_and_ranks(name, steps=60, lr=3e-3)  # 1e-2 overshoots the 600-wide autoencoders on 64 users


@pytest.mark.parametrize("name", BUILTIN)
def test_every_model_has_a_defaults_yaml_and_docstring(name):
    spec = get_spec(name)
    assert spec.defaults_path().is_file(), spec.defaults_path()
    cls = spec.load_class()
    assert cls.__doc__ and len(cls.__doc__.strip()) > 20, f"{name}: the class docstring should cite its paper"


def test_models_list_prints_every_model():
    out = subprocess.run([sys.executable, "-m", "benchmark.models", "list"], capture_output=True, text=True, check=True).stdout
    for name, spec in REGISTRY.items():
        assert any(line.split()[0] == name and spec.description in line for line in out.splitlines()), name


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered: .*multvae"):
        get_spec("no-such-model")
