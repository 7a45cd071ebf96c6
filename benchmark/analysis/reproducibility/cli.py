"""python -m benchmark.analysis.reproducibility [--check]: rebuild the CSV when records are stored,
then rewrite (or with --check, compare) the README's and the page's blocks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.analysis.reproducibility.facts import (
    BEGIN,
    CSV_PATH,
    END,
    GRIDS,
    PAGE_PATH,
    README_PATH,
    SCREENING_BEGIN,
    SCREENING_END,
)
from benchmark.analysis.reproducibility.files import current_block, replace_block
from benchmark.analysis.reproducibility.rows import read_status, status_from_store, write_status
from benchmark.analysis.reproducibility.screening import render_screening
from benchmark.analysis.reproducibility.status import render_block

DESCRIPTION = "The reproducibility page: Table 2's base rows, ours against the paper, and the screening of settings."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.analysis.reproducibility",
                                     description=DESCRIPTION,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--results", type=Path, default=None,
                        help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    parser.add_argument("--csv", type=Path, default=CSV_PATH, help="the reproducibility CSV")
    parser.add_argument("--readme", type=Path, default=README_PATH, help="the file holding the status markers")
    parser.add_argument("--page", type=Path, default=PAGE_PATH, help="the file holding the screening markers")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when the README's or the page's block is out of date")
    args = parser.parse_args(argv)
    if not args.check:
        fresh = status_from_store(args.results)
        if fresh is not None:
            frame, notes = fresh
            for note in notes:
                print(f"note: {note}")
            write_status(frame, args.csv)
            print(f"{args.csv}: rebuilt from the stored {' and '.join(GRIDS)} trials")
        else:
            print(f"{args.csv}: kept (neither {' nor '.join(GRIDS)} is stored under the results root)")
    targets = ((args.readme, BEGIN, END, render_block), (args.page, SCREENING_BEGIN, SCREENING_END, render_screening))
    try:
        status = read_status(args.csv)
        updates = []
        for path, begin, end, render in targets:
            text = path.read_text()
            block = render(status)
            if current_block(text, begin, end, path) != block:
                updates.append((path, replace_block(text, block, begin, end, path)))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        for path, _ in updates:
            print(f"error: {path}: the generated block differs from {args.csv}; "
                  "run python -m benchmark.analysis.reproducibility", file=sys.stderr)
        if not updates:
            print(f"{args.readme} and {args.page}: up to date with {args.csv}")
        return 1 if updates else 0
    for path, text in updates:
        path.write_text(text)
        print(f"{path}: block rewritten")
    if not updates:
        print(f"{args.readme} and {args.page}: up to date")
    return 0

