"""Where a grid has equal-budget (tuned) tables, the report leads with them and labels the tables at
the grid's own settings, whose rows may be capped at an epoch limit, as secondary; numbers unchanged."""
import pandas as pd

from benchmark.analysis.rendering import Cell, Table, to_markdown
from benchmark.analysis.report import HEADLINE_TITLE, SECONDARY_TITLE, analyse_grid, write_report
from tests.analysis.synthetic import build_store
from tests.fixtures import prepare_tiny


def tuned_table() -> Table:
    rows = [[Cell("LightGCN"), Cell("0.2500")], [Cell("DMRec-M"), Cell("0.2400")]]
    return Table("table3_tuned", "Table 3 at defaults and tuned (grid g)", [("", "Model"), ("tiny", "R@20 tuned")],
                 rows, pd.DataFrame({"model": ["lightgcn", "multvae"]}), [], [])


def test_the_tuned_tables_lead_and_the_capped_ones_follow_as_secondary(tmp_path, monkeypatch):
    prepare_tiny(tmp_path / "data" / "prepared", name="tiny")
    monkeypatch.setenv("DMREC_DATA", str(tmp_path / "data"))
    build_store(tmp_path / "results", "g", datasets=("tiny",), seeds=(1, 2), sweep=())
    report = analyse_grid("g", tmp_path / "results", tmp_path / "tables", tmp_path / "figures")
    plain = write_report(report, tmp_path / "plain")[0].read_text()
    assert HEADLINE_TITLE not in plain and "### Tables\n" in plain and SECONDARY_TITLE not in plain

    report.tables.append(tuned_table())
    text = write_report(report, tmp_path / "results")[0].read_text()
    headline, results, secondary = (text.index(f"### {HEADLINE_TITLE}"), text.index("### Results"),
                                    text.index(f"### {SECONDARY_TITLE}"))
    assert headline < text.index("**table3_tuned**") < results < secondary < text.index("**table3**:")
    assert text.count("**table3_tuned**") == 1 and to_markdown(tuned_table()) in text
    for table in report.tables[1:-1]:  # every other table as it was, under the secondary heading
        assert text.index(to_markdown(table)) > secondary
    html = (tmp_path / "results" / "g_report.html").read_text()
    assert html.index(HEADLINE_TITLE) < html.index("<h3>Results</h3>") < html.index("Tables at the grid")
