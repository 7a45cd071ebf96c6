"""python -m benchmark.analysis --grid <grid> | --all

Writes tables to <results>/tables/<grid>_<table>.{md,tex,csv}, figures to <results>/../figures/
<grid>_<figure>.{png,pdf,csv} and the report of the grids analysed in this call to
<results>/report.md and report.html. <results> is $DMREC_RESULTS or <repo>/results.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.analysis.records import NoResults, list_grids, results_root
from benchmark.analysis.report import analyse_grid, write_reports


def _edges(text: str) -> list[int]:
    try:
        edges = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three integers like 5,10,20, got '{text}'") from None
    if len(edges) != 3 or sorted(set(edges)) != edges:
        raise argparse.ArgumentTypeError(f"expected three increasing integers like 5,10,20, got '{text}'")
    return edges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.analysis", description=__doc__.split("\n\n")[1])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--grid", action="append", help="grid name (repeatable)")
    which.add_argument("--all", action="store_true", help="every grid with results under the results root")
    parser.add_argument("--results", type=Path, default=None, help="results root (default $DMREC_RESULTS or results/)")
    parser.add_argument("--figures", type=Path, default=None, help="figure folder (default: beside the results root)")
    parser.add_argument("--sparsity-edges", type=_edges, default=None, metavar="E1,E2,E3",
                        help="fixed upper edges of Fig. 3's first three user groups (default: 45/70/90%% quantiles)")
    args = parser.parse_args(argv)

    root = results_root(args.results)
    figures_dir = args.figures or root.parent / "figures"
    grids = list_grids(root) if args.all else args.grid
    if not grids:
        print(f"no grids with results in {root}/; run python -m benchmark.run --grid <grid>", file=sys.stderr)
        return 1
    reports = []
    for grid in grids:
        try:
            reports.append(analyse_grid(grid, root, root / "tables", figures_dir, args.sparsity_edges))
        except NoResults as empty:
            print(empty, file=sys.stderr)
        except ValueError as bad:  # a malformed record or dataset file: the message names it
            print(f"error: grid {grid}: {bad}", file=sys.stderr)
    if not reports:
        return 1
    md_path, html_path = write_reports(reports, root)
    for report in reports:
        print(f"{report.results.grid}: {len(report.table_files)} table files in {root / 'tables'}, "
              f"{len(report.figures)} figure(s) in {figures_dir}")
        for remark in report.remarks:
            print(f"  {remark}")
    print(f"report: {md_path} and {html_path}")
    return 0 if len(reports) == len(grids) else 1


if __name__ == "__main__":
    raise SystemExit(main())
