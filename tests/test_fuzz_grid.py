"""Fuzzing the grid loader: any yaml a user may write ends in a grid, its trials, or a GridError /
ConfigError / DataError naming the file, never another exception."""
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from benchmark.core.errors import DataError
from benchmark.runner.config import ConfigError
from benchmark.runner.grid import BLOCK_KEYS, GridError, expand, load_grid

FOLDER = Path(tempfile.mkdtemp(prefix="dmrec-fuzz-grid-"))
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="dmrec-hypothesis-"))  # nothing written into the repository
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["tiny", "multvae", "lightgcn", "godm", "none", "beta"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["dropout", "beta", "lr", "epochs", "seed", "x"]), inner, max_size=3), max_leaves=12)
blocks = st.dictionaries(st.sampled_from(sorted(BLOCK_KEYS | {"bogus"})), values, max_size=7)
def mostly(valid, other=values):
    """Valid three times in four, anything else otherwise: deep enough to reach the config checks."""
    return st.one_of(valid, valid, valid, other)


near_valid = st.fixed_dictionaries(
    {"datasets": mostly(st.sampled_from([["tiny"], "tiny", ["tiny", "tiny-notext"]])),
     "models": mostly(st.sampled_from([["multvae"], ["lightgcn", "multvae"], "cvga", ["ldiffrec"]])),
     "seeds": mostly(st.integers(1, 3), st.integers(-2, 1002) | values)},
    optional={"matchers": mostly(st.sampled_from([["none", "godm"], ["mddm"], "cpdm"])),
              "params": st.dictionaries(st.sampled_from(["dropout", "beta", "epochs", "learning_rate", "formulation"]),
                                        mostly(st.floats(0, 1), values), max_size=3),
              "sweep": st.dictionaries(st.sampled_from(["dropout", "beta", "epochs"]),
                                       mostly(st.lists(st.floats(0, 1), min_size=1, max_size=3),
                                              st.lists(scalars, max_size=3)), max_size=2)})
grids = st.one_of(near_valid, near_valid, blocks, st.fixed_dictionaries({"blocks": st.lists(blocks, max_size=3)}),
                  values)


def _load_and_expand(text: str):
    path = FOLDER / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return expand(load_grid(str(path)), allow_unprepared=True)
    except (GridError, ConfigError, DataError) as error:
        assert "\n" not in str(error).strip() or str(path) in str(error)
        return error


@FUZZ
@given(grids)
def test_any_structured_grid_expands_or_is_refused(data_root, content):
    _load_and_expand(yaml.safe_dump(content))


@FUZZ
@given(st.lists(st.sampled_from([*"abdkmst:-[]{},&*!|>'\"#%@ \n\t0123456789.\u00e9\x00", "models", "seeds",
                                 "datasets", "blocks", "sweep", "params", "multvae", "tiny", "!!python/object"]),
                max_size=80).map("".join))
def test_any_text_loads_or_is_refused(data_root, text):
    _load_and_expand(text)
