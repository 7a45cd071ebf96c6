"""Records read as they were written: every schema version, kept as written by its code
(tests/data/records/v<N>/), reads through the one upgrade and gives the tables its code gave."""
import json
import shutil
from pathlib import Path

import pytest

from benchmark.analysis.records import load_grid_results
from benchmark.analysis.results_table import results_table
from benchmark.analysis.table2 import table2
from benchmark.runner.record import SCHEMA_VERSION, InvalidRecord, checked, defaults_of, upgrade
from benchmark.runner.store import ResultStore

KEPT = Path(__file__).resolve().parents[1] / "data" / "records"
V1 = KEPT / "v1"  # the smoke grid on `tiny` (plus beta=0.3 for DMRec-M), posterior trimmed


def tables(root: Path) -> dict[str, str]:
    results = load_grid_results("smoke", root)
    assert results.problems == [] and results.superseded == []
    return {"smoke_results.csv": results_table(results).data.to_csv(index=False),
            "smoke_table2.csv": table2(results)[0].data.to_csv(index=False)}


def kept_records(version: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((KEPT / version).glob("smoke/trials/*/record.json"))]


@pytest.fixture
def v1_store(tmp_path):
    shutil.copytree(V1 / "smoke", tmp_path / "smoke")
    return tmp_path


def test_schema_1_records_give_the_tables_their_code_gave(v1_store):
    for name, text in tables(v1_store).items():
        assert text == (V1 / name).read_text(), name


def test_schema_1_records_rewritten_at_the_current_version_give_the_same_tables(v1_store, tmp_path):
    store = ResultStore("smoke", root=tmp_path / "now")
    old = ResultStore("smoke", root=v1_store)
    for record in kept_records("v1"):
        per_user = old.read_per_user(record["trial_id"]).to_dict("list")
        store.write_finished(record["trial_id"], {**record, "per_user": per_user})
    assert {r["schema"] for r in store.records()} == {SCHEMA_VERSION}
    assert tables(tmp_path / "now") == tables(v1_store)


def test_the_upgrade_of_schema_1(v1_store):
    for raw in kept_records("v1"):
        assert "schema" not in raw and "defaults" not in raw
        record = checked(raw, raw["trial_id"])
        assert record["schema"] == SCHEMA_VERSION == 2
        assert record["defaults"] == {**defaults_of(raw["config"]), "reconstructed": True}
        assert record["defaults"]["model"]["epochs"] == 1000 and record["config"]["epochs"] == 6  # the grid set it
        assert record["provenance"] == raw["provenance"] and record["env"] == raw["env"]
    older = {**kept_records("v1")[0], "provenance": None, "env": {"git_commit": "1b29e6c"}}
    upgraded = upgrade(older)  # older than provenance and env.device: what they ran at, as far as known
    assert upgraded["provenance"] == {"commit": "1b29e6c", "dirty": None} and upgraded["env"]["device"] == "cpu"


def test_the_current_version_is_read_as_written(v1_store):
    store = ResultStore("smoke", root=v1_store)
    raw = kept_records("v1")[0]
    store.write_finished(raw["trial_id"], raw, force=True)
    written = json.loads(store.record_path(raw["trial_id"]).read_text())
    assert written["schema"] == 2 and "reconstructed" not in written["defaults"]
    assert upgrade(written) == written == store.read_record(raw["trial_id"])


@pytest.mark.parametrize("schema, message", [(3, "schema 3 is newer than this code reads"),
                                             ("2", "schema is \"2\", not a version number"),
                                             (0, "schema is 0")])
def test_an_unknown_version_is_not_read(schema, message):
    raw = {**kept_records("v1")[0], "schema": schema}
    with pytest.raises(InvalidRecord, match=message):
        checked(raw, raw["trial_id"])


def test_a_current_record_without_its_defaults_is_not_read():
    raw = {**kept_records("v1")[0], "schema": 2}
    with pytest.raises(InvalidRecord, match="'defaults' is missing"):
        checked(raw, raw["trial_id"])
