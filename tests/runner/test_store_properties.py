"""Property tests of the record reader: whatever JSON a record file holds, reading it ends in a checked
record (that the index, the analysis and the tuning read without error) or in the suite's own
InvalidRecord / KeyError, never in another exception."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.analysis.records import code_version, environment_summary, trial_row
from benchmark.runner.record import InvalidRecord, checked, failed_problem
from benchmark.runner.store import ResultStore, index_frame
from benchmark.tuning.history import sampled_values, stored_sample
from tests.runner.test_store import record as valid_record
from tests.tuning.samples import mddm_cell

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
VALID = {**{k: v for k, v in valid_record().items() if k != "per_user"}, "trial_id": "t1", "grid": "g",
         "status": "finished", "finished_at": "2026-01-01T00:00:00+00:00"}
SAMPLE = {**VALID, "metrics": {"valid": {"recall@20": 0.3}, "test": {}}, "search": {"ended": None, "started_at": "x"},
          "config": mddm_cell().sampled_config({"learning_rate": 0.002}), "dataset_version": "v1"}
PATHS = [(key,) for key in VALID] + [("config", k) for k in VALID["config"]] + [
    ("metrics", "test"), ("metrics", "valid"), ("metrics", "test", "recall@20"), ("timings", "total_s"),
    ("env", "packages"), ("schema",), ("defaults",), ("search",), ("search", "ended"), ("posterior",),
    ("curve", 0), ("provenance",), ("provenance", "dirty")]


def _replaced(content, path: tuple, value):
    """`content` with the entry at `path` set to `value` where that path exists (else unchanged)."""
    target = content
    for key in path[:-1]:
        if not isinstance(target, dict):
            return content
        target = target.setdefault(key, {})
    if isinstance(target, dict):
        target[path[-1]] = value
    elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
        target[path[-1]] = value
    return content


def mutated(base: dict):
    """`base` with up to four fields (top level or nested) replaced by any JSON-ish value."""
    def apply(changes):
        content = json.loads(json.dumps(base))
        for path, value in changes:
            content = _replaced(content, path, value)
        return content
    return st.lists(st.tuples(st.sampled_from(PATHS), JSONISH), max_size=4).map(apply)


ANY_RECORD = st.one_of(JSONISH, mutated(VALID), mutated(SAMPLE))


def read_everything(record: dict) -> None:
    """What the runner, the analysis and the tuning read of a checked record."""
    index_frame([record])
    trial_row(record)
    code_version(record)
    cell = mddm_cell()
    stored_sample(cell, record, cell.space())


@PROPERTY
@given(content=ANY_RECORD)
def test_checking_any_record_ends_in_a_record_or_invalid_record(content):
    try:
        record = checked(content, "t1")
    except InvalidRecord:
        return
    read_everything(record)


@PROPERTY
@given(content=ANY_RECORD)
def test_reading_any_record_file_ends_in_a_record_or_key_error(tmp_path, content):
    store = ResultStore("g", root=tmp_path)
    store.record_path("t1").parent.mkdir(parents=True, exist_ok=True)
    store.record_path("t1").write_text(json.dumps(content))
    assert store.finished_ids() <= {"t1"}
    for record in store.records():
        read_everything(record)
    try:
        store.read_record("t1")
    except KeyError:
        pass
    environment_summary(type("Results", (), {"records": {r["trial_id"]: r for r in store.records()}})())


@PROPERTY
@given(content=st.one_of(JSONISH, st.fixed_dictionaries({"config": JSONISH, "error": JSONISH}),
                         st.fixed_dictionaries({"config": st.dictionaries(st.sampled_from(
                             ["model", "dataset", "matcher", "learning_rate"]), JSONISH)})))
def test_any_failure_record_is_a_failure_or_a_problem(content):
    if failed_problem(content, "t1") is None:
        cell = mddm_cell()
        sampled_values(cell, content["config"], cell.space())
