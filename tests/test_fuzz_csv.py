"""Fuzzing the interaction-table reader and builder (`prepare NAME --source FILE.csv`): any file ends
in a prepared dataset or a DataError naming it, never another exception."""
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from benchmark.core.errors import DataError
from benchmark.data.recipe import PrepareOptions, TextVectors
from benchmark.data.sources.own_data import InteractionFile, read_table

FOLDER = Path(tempfile.mkdtemp(prefix="dmrec-fuzz-csv-"))
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="dmrec-hypothesis-"))  # nothing written into the repository
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

HEADERS = ["user", "item", "rating", "timestamp", "user_id", "item_id", "fold", "time", "x", "", "user:token"]
cells = st.one_of(st.sampled_from(["a", "b", "c", "1", "2", "10", "3.5", "nan", "inf", "-1e308", "1e999",
                                   "2024-01-02", "2024-13-45", "train", "valid", "test", "", " ", '"q,"', "\u00e9"]),
                  st.text(max_size=6))
SEPARATORS = [",", ";", "\t", "|"]


@st.composite
def tables(draw) -> tuple[str, str]:
    """(file suffix, text): a header of known and other names and rows of cells, joined by one separator."""
    separator = draw(st.sampled_from(SEPARATORS))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=5))
    rows = draw(st.lists(st.lists(cells, min_size=max(0, len(header) - 1), max_size=len(header) + 1), max_size=25))
    text = "\n".join(separator.join(row) for row in [header, *rows])
    return draw(st.sampled_from([".csv", ".tsv", ".inter", ".txt"])), text


@st.composite
def near_valid_tables(draw) -> tuple[str, str]:
    """user, item and some of rating, timestamp, fold, with mostly sound rows and the odd hostile cell."""
    separator = draw(st.sampled_from(SEPARATORS))
    header = ["user", "item", *draw(st.lists(st.sampled_from(["rating", "timestamp", "fold", "x"]), unique=True))]
    sound = {"user": st.sampled_from("abc"), "item": st.sampled_from(["1", "2", "3", "10", "i"]),
             "rating": st.sampled_from(["1", "3", "4.5", "5"]), "timestamp": st.integers(0, 9).map(str),
             "fold": st.sampled_from(["train", "train", "valid", "test"]), "x": st.sampled_from(["", "x", "\u00e9"])}
    hostile = draw(st.booleans())
    rows = draw(st.lists(st.tuples(*(st.one_of(sound[name], cells) if hostile else sound[name] for name in header)),
                         min_size=12, max_size=60))
    text = "\n".join(separator.join(row) for row in [header, *rows])
    return (".tsv" if separator == "\t" else ".csv"), text


options = st.one_of(st.just({}), st.fixed_dictionaries({"split": st.sampled_from(["temporal", "column:fold"])}),
                    st.fixed_dictionaries({}, optional={
                        "split": st.sampled_from(["random", "temporal", "column:fold", "column:x"]),
                        "min_rating": st.floats(allow_nan=False, width=32) | st.just(3.0),
                        "stand_in_dim": st.integers(1, 4),
                        "columns": st.sampled_from([(("user", "x"),), (("item", "fold"), ("rating", "time"))]),
                    }))


def _build(suffix: str, content: bytes, chosen: dict):
    source = FOLDER / f"fuzz{suffix}"
    source.write_bytes(content)
    prepare = PrepareOptions(source=source, **chosen)
    try:
        return InteractionFile().build(prepare, "fuzz", TextVectors(prepare))
    except DataError as error:
        assert str(source) in str(error) or str(error).startswith("--split"), error
        return error


@FUZZ
@given(st.one_of(tables(), near_valid_tables(), near_valid_tables()), options)
def test_any_table_builds_or_is_refused_naming_the_file(table, chosen):
    suffix, text = table
    built = _build(suffix, text.encode("utf-8", "surrogatepass"), chosen)
    event(type(built).__name__)
    if not isinstance(built, DataError):  # a built dataset is whole: three non-empty splits of one shape
        shapes = {matrix.shape for matrix in built.splits.values()}
        assert len(shapes) == 1 and all(matrix.nnz for matrix in built.splits.values())


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".csv", ".tsv", ".inter"]))
def test_any_bytes_read_as_a_table_or_are_refused(content, suffix):
    source = FOLDER / f"bytes{suffix}"
    source.write_bytes(content)
    try:
        header, rows = read_table(source)
    except DataError as error:
        assert str(source) in str(error)
    else:
        assert isinstance(header, list) and rows
