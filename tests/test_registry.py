"""Every registered model trains on the tiny fixture and ranks correctly; the registry lists them."""
import subprocess
import sys

import pytest

from baselines.registry import REGISTRY, get_spec
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
    out = subprocess.run([sys.executable, "-m", "benchmark.models", "list"], capture_output=True, text=True,
                         check=True).stdout
    for name, spec in REGISTRY.items():
        assert any(line.split()[0] == name and spec.description in line for line in out.splitlines()), name


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match=r"registered: .*multvae"):
        get_spec("no-such-model")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "benchmark.models", *args], capture_output=True, text=True)


def test_models_cli_help_version_and_bad_command_line():
    helped = _cli("--help")
    assert helped.returncode == 0 and "list" in helped.stdout
    listed_help = _cli("list", "--help")
    assert listed_help.returncode == 0 and "(default: every role)" in listed_help.stdout
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("python -m benchmark.models ")
    assert _cli().returncode == 2 and _cli("frobnicate").returncode == 2


def test_models_list_shows_role_and_display_name():
    out = _cli("list").stdout.splitlines()
    assert out[0].split()[:3] == ["multvae", "generative_base", "Mult-VAE"]
    assert any(line.split()[:3] == ["lightgcn", "id_baseline", "LightGCN"] for line in out)
    only = _cli("list", "--role", "generative_base").stdout.split()
    assert [w for w in only if w in REGISTRY] == ["multvae", "ldiffrec", "cvga"]


def test_registration_carries_every_fact_the_analysis_needs():
    from benchmark.analysis import roles

    assert roles.base_models() == ("multvae", "ldiffrec", "cvga")
    assert roles.table3_models() == ("lightgcn", "kar", "llmrec", "rlmrec_c", "rlmrec_g", "alpharec", "alpharec_star")
    assert roles.paper_names()["AlphaRec*"] == "alpharec_star" and roles.paper_names()["LLMRec"] == "llmrec"
    assert roles.dmrec_matchers() == ("godm", "cpdm", "mddm")
    assert set(roles.ablation_matchers()) == {"wo_pmn", "add", "wo_mixing"}
    assert [roles.variant_label(m) for m in ("none", "mddm", "wo_pmn")] == ["Base", "DMRec-M", "w/o PMN"]
    colours = [spec.figure_colour for spec in REGISTRY.values()]
    assert len(set(colours)) == len(colours)  # every built-in model has its own colour


def test_a_user_model_gets_a_role_label_and_a_stable_colour_and_marker():
    from baselines.registry import USER_COLOURS, USER_MARKERS, register, unregister

    spec = register("my_model", "nowhere.module:Nothing", "a user model")
    try:
        assert (spec.role, spec.label, spec.in_paper) == ("user", "my_model", False)
        assert spec.figure_colour in USER_COLOURS and spec.figure_marker in USER_MARKERS
        builtin = {s.colour for s in REGISTRY.values() if s.colour}
        assert spec.figure_colour not in builtin
        again = subprocess.run([sys.executable, "-c", "from baselines.registry import ModelSpec; "
                                "s = ModelSpec('my_model', 'x:y', ''); print(s.figure_colour, s.figure_marker)"],
                               capture_output=True, text=True, check=True).stdout.split()
        assert again == [spec.figure_colour, spec.figure_marker]  # the same in another process
    finally:
        unregister("my_model")
    with pytest.raises(ValueError, match="role must be one of"):
        register("bad_role", "x:y", "", role="baseline")
    assert "bad_role" not in REGISTRY


def test_a_model_in_a_folder_without_init_py_loads_and_finds_its_yaml(tmp_path, monkeypatch):
    from baselines.registry import register, unregister

    folder = tmp_path / "namespace_pkg" / "plain"  # no __init__.py anywhere: namespace packages
    folder.mkdir(parents=True)
    (folder / "plain_model.py").write_text('class Plain:\n    """A model in a folder without __init__.py."""\n')
    (folder / "plain_model.yaml").write_text("embedding_size: 8  # (int) size\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = register("plain_model", "namespace_pkg.plain.plain_model:Plain", "no __init__.py")
    try:
        assert spec.load_class().__name__ == "Plain"
        assert spec.defaults_path() == folder / "plain_model.yaml"
    finally:
        unregister("plain_model")
        for name in ("namespace_pkg.plain.plain_model", "namespace_pkg.plain", "namespace_pkg"):
            sys.modules.pop(name, None)
