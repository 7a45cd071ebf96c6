"""python -m benchmark.analysis --grid <grid> [--reference model[+matcher]] | --all

Writes, per grid, the results table <results>/tables/<grid>_results.{md,tex,csv}, the paper's
tables whose inputs the grid has (<grid>_table1..3), figures to <results>/../figures/
<grid>_<figure>.{png,pdf,csv}, and its report, <results>/<grid>_report.md and .html: a grid's own
files only. <results> is $DMREC_RESULTS or <repo>/results.

Exit status: 0 when every grid was analysed from intact files; 1 for bad data (a grid without
finished trials, or a stored file that had to be left out, such as a corrupt per_user.csv.gz:
everything else is still written and the report names the file); 2 for a bad command line
(an unknown grid, a --reference that names no row).
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from benchmark import version
from benchmark.analysis.records import NoResults, list_grids, root_or_default
from benchmark.analysis.report import analyse_grid, write_reports
from benchmark.analysis.results_table import BadReference, Reference
from benchmark.core.paths import RootError, resolve_root


def _edges(text: str) -> list[int]:
    try:
        edges = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three integers like 5,10,20, got '{text}'") from None
    if len(edges) != 3 or sorted(set(edges)) != edges:
        raise argparse.ArgumentTypeError(f"expected three increasing integers like 5,10,20, got '{text}'")
    return edges


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults; an option whose default is "not given" says what that means in its help."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m benchmark.analysis", description=__doc__.split("\n\n")[1],
                                    epilog=__doc__.split("\n\n")[2], formatter_class=_Help)
    which = parse.add_mutually_exclusive_group(required=True)
    which.add_argument("--grid", action="append", type=grid_name,
                       help="grid name, or the path of its yaml as given to the runner (repeatable)")
    which.add_argument("--all", action="store_true", help="every grid with results under the results root")
    parse.add_argument("--reference", default=None, metavar="MODEL[+MATCHER]",
                       help="the results table's reference row for Welch p-values, e.g. multvae or multvae+mddm "
                            "(default: none, no p column)")
    parse.add_argument("--results", type=Path, default=None,
                       help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    parse.add_argument("--figures", type=Path, default=None, help="figure folder (default: <results root>/../figures)")
    parse.add_argument("--sparsity-edges", type=_edges, default=None, metavar="E1,E2,E3",
                       help="fixed upper edges of Fig. 3's first three user groups "
                            "(default: the 45/70/90%% user quantiles)")
    parse.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parse


def grid_name(text: str) -> str:
    """A grid's name; a yaml path (as `run` and `tune` take it) names the grid by its file's stem."""
    path = Path(text)
    if path.suffix not in (".yaml", ".yml"):
        return text
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such grid file")
    return path.stem


def _known_grid_names() -> list[str]:
    from benchmark.runner.grid import GRIDS_DIR

    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def _unknown_grid(grid: str, with_results: list[str], root: Path) -> str | None:
    """One line when `grid` is neither a grid with results nor a grid file, with a suggestion."""
    if grid in with_results or grid in _known_grid_names():
        return None
    close = difflib.get_close_matches(grid, [*with_results, *_known_grid_names()], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"error: no grid '{grid}' (no results in {root}/{grid}/ and no benchmark/grids/{grid}.yaml){hint}"


def _check_reference(text: str | None) -> Reference | None:
    """Refuse a model or matcher that is registered nowhere (a row of a grid is checked per grid)."""
    if text is None:
        return None
    from baselines.registry import REGISTRY
    from dmrec.matchers import MATCHERS

    reference = Reference.parse(text)
    for name, known, kind in ((reference.model, REGISTRY, "model"), (reference.matcher, MATCHERS, "matcher")):
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (registered: {', '.join(known)})"
            raise BadReference(f"--reference {text}: unknown {kind} '{name}'{hint}")
    return reference


def _folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot take figures (None when it is, or can be made, a writable folder)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is not a folder" if existing == folder else f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def _roots(args) -> tuple[Path, Path]:
    """The results root and the figure folder, or a RootError naming the option that set the bad one."""
    root = root_or_default(resolve_root(args.results, "--results") if args.results is not None else None)
    figures_dir = resolve_root(args.figures, "--figures") if args.figures is not None else root.parent / "figures"
    problem = _folder_problem(figures_dir)
    if problem:
        raise RootError(f"--figures {args.figures or figures_dir}: {problem}")
    return root, figures_dir


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # argparse: 0 for --help/--version, 2 for a bad command line
        return int(stop.code or 0)
    try:
        root, figures_dir = _roots(args)
    except RootError as bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    with_results = list_grids(root)
    grids = with_results if args.all else list(dict.fromkeys(args.grid))
    try:
        reference = _check_reference(args.reference)
    except BadReference as bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    unknown = [line for line in (_unknown_grid(g, with_results, root) for g in grids) if line]
    if unknown:
        print("\n".join(unknown), file=sys.stderr)
        return 2
    if not grids:
        print(f"error: no grids with results in {root}/; run python -m benchmark.run --grid <grid>", file=sys.stderr)
        return 1
    try:  # made here, once there is something to write, so that no figure fails on its own
        figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: --figures {args.figures or figures_dir}: cannot make the folder ({error.strerror or error})",
              file=sys.stderr)
        return 2
    reports, status = [], 0
    for grid in grids:
        try:
            reports.append(analyse_grid(grid, root, root / "tables", figures_dir, args.sparsity_edges, reference))
        except BadReference as bad:
            print(f"error: grid {grid}: {bad}", file=sys.stderr)
            status = 2
        except NoResults as empty:
            print(f"error: {empty}", file=sys.stderr)
            status = max(status, 1)
        except ValueError as bad:  # a malformed record or dataset file: the message names it
            print(f"error: grid {grid}: {bad}", file=sys.stderr)
            status = max(status, 1)
    if not reports:
        return status or 1
    for report, (md_path, html_path) in zip(reports, write_reports(reports, root), strict=True):
        print(f"{report.results.grid}: {len(report.table_files)} table files in {root / 'tables'}, "
              f"{len(report.figures)} figure(s) in {figures_dir}; report: {md_path} and {html_path}")
        for line in (*report.skipped, *report.remarks):
            print(f"  {line}")
        for line in report.problems:
            print(f"  left out: {line}", file=sys.stderr)
        if report.problems:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
