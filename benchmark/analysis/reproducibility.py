"""The reproducibility status: the paper's Table 2 base rows against ours, as a CSV and a README block.

`results/reproducibility.csv` is small and committed: one row per Table 2 base (Mult-VAE,
L-DiffRec, CVGA) and paper dataset (amazon, yelp, steam) with our test Recall@20 (mean ± sample
std over seeds, ddof=1), the seed count, the paper's value, the relative difference, whether it is
within 3%, the settings (preset) and the commit the trials ran at; "not run" where the store has
no finished trial. It is rebuilt from the results store's `table2` grid when that grid is stored
here, and kept as committed otherwise (a fresh clone has no trial records). The README's status
table, between `<!-- status:begin -->` and `<!-- status:end -->`, is rendered from the CSV, and
`tests/test_docs.py` checks that the two agree.

    python -m benchmark.analysis.reproducibility            # rebuild the CSV if possible, rewrite the README block
    python -m benchmark.analysis.reproducibility --check    # exit 1 when the README block is out of date
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import pandas as pd

from benchmark.paths import REPO_ROOT, results_root
from benchmark.store import ResultStore

GRID = "table2"
METRIC = "recall@20"
BASES = {"multvae": "Mult-VAE", "ldiffrec": "L-DiffRec", "cvga": "CVGA"}  # registry name -> paper's name
DATASETS = ("amazon", "yelp", "steam")
TOLERANCE = 0.03  # relative difference counted as "reproduced"
CSV_PATH = REPO_ROOT / "results" / "reproducibility.csv"
README_PATH = REPO_ROOT / "README.md"
PAPER_TABLES = Path(__file__).with_name("paper_tables.csv")
BEGIN, END = "<!-- status:begin -->", "<!-- status:end -->"
COLUMNS = ("base", "dataset", "metric", "ours_mean", "ours_std", "n_seeds", "paper", "rel_diff",
           "within_3pct", "settings", "commit", "date")


def paper_value(base: str, dataset: str, metric: str = METRIC) -> float | None:
    table = pd.read_csv(PAPER_TABLES)
    hit = table[(table.table == "table2") & (table.base == base) & (table.variant == "Base")
                & (table.dataset == dataset) & (table.metric == metric)]
    return float(hit.value.iloc[0]) if len(hit) else None


def _commit(record: dict) -> str:
    """The short commit a record's trial ran at (with "+dirty" when its code was edited)."""
    provenance = record.get("provenance") or {}
    commit = provenance.get("commit") or (record.get("env") or {}).get("git_commit") or "unknown"
    return commit[:7] + ("+dirty" if provenance.get("dirty") else "")


def _settings(config: dict) -> str:
    return str(config.get("preset") or "defaults")


def _row(base: str, dataset: str, records: list[dict]) -> dict:
    """One status row from the finished base trials of (base, dataset); "not run" when there are none."""
    name = BASES[base]
    paper = paper_value(name, dataset)
    row = dict.fromkeys(COLUMNS, "")
    row.update(base=name, dataset=dataset, metric=METRIC, paper=paper, settings="not run", n_seeds=0)
    if not records:
        return row
    # a cell never averages two configurations: keep the settings with the most seeds (newest on a tie)
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = (_settings(record["config"]), record.get("dataset_version"))
        groups.setdefault(key, []).append(record)
    chosen = max(groups.values(), key=lambda group: (len(group), max(r.get("finished_at", "") for r in group)))
    values = [float(r["metrics"]["test"][METRIC]) for r in chosen]
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    commits = sorted({_commit(r) for r in chosen})
    row.update(ours_mean=round(mean, 4), ours_std=round(std, 4) if not math.isnan(std) else "",
               n_seeds=len(values), settings=_settings(chosen[0]["config"]), commit=" ".join(commits),
               date=max(r.get("finished_at", "") for r in chosen)[:10])
    if paper:
        rel = (mean - paper) / paper
        row.update(rel_diff=round(rel, 4), within_3pct=abs(rel) <= TOLERANCE)
    return row


def status_from_store(root: Path | None = None) -> pd.DataFrame | None:
    """The status rows from the stored `table2` trials, or None when that grid is not stored here."""
    store = ResultStore(GRID, root if root is not None else results_root())
    if not store.trials_dir.is_dir():
        return None
    wanted: dict[tuple[str, str], list[dict]] = {(b, d): [] for b in BASES for d in DATASETS}
    for record in store.records():
        config = record.get("config") or {}
        key = (config.get("model"), config.get("dataset"))
        if key in wanted and config.get("matcher", "none") == "none":
            wanted[key].append(record)
    rows = [_row(base, dataset, wanted[(base, dataset)]) for base in BASES for dataset in DATASETS]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def read_status(path: Path = CSV_PATH) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _cell(value: str, digits: int = 4) -> str:
    return f"{float(value):.{digits}f}" if value not in ("", None) else "–"


def render_block(status: pd.DataFrame) -> str:
    """The README's status table (Markdown) from the CSV's rows."""
    lines = [BEGIN,
             f"| Table 2 base | dataset | ours: test {METRIC} (mean ± std, seeds) | paper | difference "
             "| within 3% | settings | commit, date |",
             "|---|---|---|---|---|---|---|---|"]
    for row in status.to_dict("records"):
        if str(row["n_seeds"]) in ("0", ""):
            ours, diff, within, when = "not run", "–", "–", "–"
        else:
            std = f" ± {_cell(row['ours_std'])}" if row["ours_std"] != "" else ""
            ours = f"{_cell(row['ours_mean'])}{std} ({row['n_seeds']})"
            diff = f"{float(row['rel_diff']):+.1%}" if row["rel_diff"] != "" else "–"
            within = {"True": "yes", "False": "no"}.get(str(row["within_3pct"]), "–")
            when = f"`{row['commit']}`, {row['date']}"
        lines.append(f"| {row['base']} | {row['dataset']} | {ours} | {_cell(row['paper'])} | {diff} | {within} "
                     f"| {row['settings']} | {when} |")
    lines.append(END)
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{README_PATH}: no {BEGIN} ... {END} markers")
    return text[:start] + block + text[end + len(END):]


def current_block(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{README_PATH}: no {BEGIN} ... {END} markers")
    return text[start:end + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.analysis.reproducibility",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--results", type=Path, default=None,
                        help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    parser.add_argument("--csv", type=Path, default=CSV_PATH, help="the status CSV")
    parser.add_argument("--readme", type=Path, default=README_PATH, help="the file holding the status markers")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the block is out of date")
    args = parser.parse_args(argv)
    if not args.check:
        fresh = status_from_store(args.results)
        if fresh is not None:
            args.csv.parent.mkdir(parents=True, exist_ok=True)
            fresh.to_csv(args.csv, index=False)
            print(f"{args.csv}: rebuilt from the stored {GRID} trials")
        else:
            print(f"{args.csv}: kept (no stored {GRID} grid under the results root)")
    try:
        block = render_block(read_status(args.csv))
        text = args.readme.read_text()
        stored = current_block(text)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if stored == block:
        print(f"{args.readme}: status block up to date")
        return 0
    if args.check:
        print(f"error: {args.readme}: the status block differs from {args.csv}; "
              "run python -m benchmark.analysis.reproducibility", file=sys.stderr)
        return 1
    args.readme.write_text(replace_block(text, block))
    print(f"{args.readme}: status block rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
