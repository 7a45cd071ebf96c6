"""Text a grid's models need is checked when the grid is expanded: a dataset without it is refused
in one line (exit 2) naming the dataset, the model and the prepare flag, before anything runs. The
needs come from the model registry (`text=`) and the matcher registry (`Matcher.text`), and the
table in docs/datasets.md is theirs."""
import re
from pathlib import Path

import pytest

from baselines.registry import REGISTRY
from benchmark.runner.grid import GridError, Narrowing, expand, text_needs
from dmrec.matchers import MATCHERS
from tests.runner.test_cli import one_line_error
from tests.runner.test_run import run

DATASETS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


@pytest.mark.parametrize(("args", "fragments"), [
    (["--grid", "smoke", "--no-ray"], ["dataset 'tiny-notext'", "model 'multvae' with matcher 'mddm'",
                                       "--user-text CSV --item-text CSV"]),
    (["--grid", "table3", "--models", "kar", "--seeds", "1", "--dry-run"],
     ["dataset 'tiny-notext' has no user and item text vectors", "model 'kar' needs", "--user-text CSV"]),
    (["--grid", "table3", "--models", "alpharec", "--seeds", "1", "--no-ray"],
     ["has no item text vectors, which model 'alpharec' needs", "--item-text CSV"]),
])
def test_a_grid_needing_text_on_a_dataset_without_it_is_refused_up_front(data_root, tmp_path, args, fragments):
    done = run([*args, "--datasets", "tiny-notext"], data_root, tmp_path / "results", timeout=120)
    one_line_error(done, 2, *fragments)
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was stored


def test_models_without_text_needs_expand_on_a_dataset_without_text(data_root):
    plain = expand("smoke", Narrowing(datasets=["tiny-notext"], matchers=["none"]))
    assert {(t.model, t.matcher) for t in plain} == {("multvae", "none"), ("lightgcn", "none")}
    with pytest.raises(GridError, match="model 'multvae' with matcher 'mddm' needs"):
        expand("smoke", Narrowing(datasets=["tiny-notext"], matchers=["mddm"]))
    assert len(expand("smoke", Narrowing(datasets=["tiny"]))) == 5  # with text, everything


def test_needs_come_from_the_two_registries():
    assert text_needs("lightgcn", None) == () and text_needs("multvae", "none") == ()
    assert text_needs("multvae", "wo_pmn") == ("user", "item") == text_needs("kar", None)
    assert text_needs("alpharec", None) == ("item",) and text_needs("alpharec_star", None) == ("user", "item")
    assert [m for m, matcher in MATCHERS.items() if not matcher.text] == ["none"]


def needs_table() -> str:
    def mark(kinds, kind):
        return "yes" if kind in kinds else "–"
    rows = []
    for name, spec in REGISTRY.items():
        needs = text_needs(name, None)
        rows.append(f"| `{name}` | {spec.label} | {mark(needs, 'user')} | {mark(needs, 'item')} |")
    with_text = ", ".join(f"`{m}`" for m, matcher in MATCHERS.items() if matcher.text)
    rows.append(f"| any base with a DMRec matcher ({with_text}) | DMRec | yes | yes |")
    return "\n".join(["| model | shown as | user text | item text |", "|---|---|---|---|", *rows])


def test_the_datasets_page_lists_each_model_s_needs():
    page = DATASETS_PAGE.read_text()
    found = re.search(r"<!-- text-needs:begin -->\n(.*?)\n<!-- text-needs:end -->", page, flags=re.S)
    assert found, "docs/datasets.md has no text-needs block"
    assert found.group(1) == needs_table(), "docs/datasets.md's table is out of date; it should read:\n" + needs_table()
