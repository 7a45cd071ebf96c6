"""Property test of the tuning-sample reader: whatever a stored sample or failure file holds, the
samples of a cell are read (the file counted or left out), never an exception."""
import json

from hypothesis import given
from hypothesis import strategies as st

from benchmark.runner.store import ResultStore
from benchmark.tuning.history import cell_samples
from tests.runner.test_store_properties import ANY_RECORD, JSONISH, PROPERTY, SAMPLE
from tests.tuning.samples import mddm_cell

FAILURES = st.one_of(JSONISH, st.fixed_dictionaries({"config": JSONISH, "error": JSONISH, "failed_at": JSONISH}))


@PROPERTY
@given(sample=ANY_RECORD, failure=FAILURES)
def test_any_stored_sample_or_failure_is_read_or_left_out(tmp_path, sample, failure):
    cell = mddm_cell()
    store = ResultStore("g_search", root=tmp_path)
    for path, content in ((store.record_path("t1"), sample), (store.failed_path("f1"), failure)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    samples = cell_samples(store, cell)
    assert {s.trial_id for s in samples} <= {"t1", "f1"}
    assert all(s.score is None or isinstance(s.score, float) for s in samples)


def test_the_unmutated_sample_is_read_as_a_sample(tmp_path):
    """The property above starts from a valid sample: it is counted, with its score."""
    store = ResultStore("g_search", root=tmp_path)
    store.record_path("t1").parent.mkdir(parents=True)
    store.record_path("t1").write_text(json.dumps(SAMPLE))
    [sample] = cell_samples(store, mddm_cell())
    assert (sample.trial_id, sample.score, sample.ended) == ("t1", 0.3, None)
