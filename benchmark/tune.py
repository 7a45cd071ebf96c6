"""Tune a grid with an equal budget per cell on validation only, then run the tuned configs.

    python -m benchmark.tune --grid default --models lightgcn,multvae --matchers none,mddm --budget 6 --seeds 2
    python -m benchmark.tune --grid table3 --datasets amazon --budget-hours 2 --search-only

For each (dataset, model, matcher) cell of the grid after narrowing: Ray Tune samples configs from
the model yaml's `search:` ranges with Optuna's TPE and stops weak ones early with ASHA, on
validation Recall@20 reported after every validation (the grid's own caps, e.g. epoch caps,
apply). Every cell gets the same budget: `--budget N` sampled configs, or `--budget-hours H` of
sampling (the samples' own time, summed, whatever the parallelism). Each sample is a trial of
the store `<grid>_search` (validation curve, no test metric: the test split is never evaluated
during the search), stored after each validation. A rerun continues: stored samples are not
retrained but handed to TPE, so a killed search loses at most the unreported part of the samples
in flight.

Then each cell's best sample is written, fully resolved, as the grid `<results>/<grid>_tuned.yaml`
and run with `--seeds` (default: the cell's own seeds in the grid) through the usual runner into
the store `<grid>_tuned`; `python -m benchmark.analysis --grid <grid>` shows it beside the
untuned runs. Exit status: 0 done, 1 failed samples or runs or bad data, 2 bad command line,
grid or search space, 130 interrupted (rerun the same command to resume).
"""
from __future__ import annotations

import argparse
import os
import sys

from benchmark import version
from benchmark.core.errors import DataError
from benchmark.run import comma_list, key_value_argument, positive_int, refuse, say_error, seeds_argument
from benchmark.runner.config import ConfigError
from benchmark.runner.grid import GridError, Narrowing, load_grid
from benchmark.runner.store import ResultStore, StoreUnwritable
from benchmark.tuning.cells import SEARCH_SUFFIX, Cell, grid_cells

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{value}'")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.tune", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"dmrec-bench {version()}")
    p.add_argument("--grid", required=True, help="a name in benchmark/grids/ or a yaml path")
    p.add_argument("--datasets", type=comma_list, help="comma list; replaces every block's datasets")
    p.add_argument("--models", type=comma_list, help="comma list; keeps only these models")
    p.add_argument("--matchers", type=comma_list, help="comma list; keeps only these matchers ('none' = no matcher)")
    p.add_argument("--set", dest="params", type=key_value_argument, action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for every model that declares it (a searched key is still searched)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", type=positive_int, help="sampled configs per (dataset, model, matcher) cell")
    budget.add_argument("--budget-hours", type=_positive_float,
                        help="hours of sampling per cell: its samples' own time, summed")
    p.add_argument("--seeds", type=seeds_argument, help="seeds of each tuned config: a count n or a comma list "
                                                "(default: the cell's own seeds in the grid)")
    p.add_argument("--search-only", action="store_true", help="search and write the tuned grid; run no seeds")
    p.add_argument("--search-seed", type=int, default=0, help="seed of TPE's sampler (the searches are reproducible)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0,
                   help="CPUs per sample and per seed run; also torch threads")
    p.add_argument("--no-ray", action="store_true",
                   help="run the tuned seeds in this process (the search always uses Ray Tune)")
    p.add_argument("--address", help="join this Ray cluster (else $RAY_ADDRESS, else a private local instance)")
    p.add_argument("--results", help="results root (else $DMREC_RESULTS, else <repo>/results)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops the command, not just Tune's loop
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("\ninterrupted: the samples and runs stored so far are kept; rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args) -> int:
    if args.results:
        os.environ["DMREC_RESULTS"] = os.path.abspath(args.results)
    narrowing = Narrowing(datasets=args.datasets, models=args.models, matchers=args.matchers,
                          params=dict(args.params))
    try:
        grid = load_grid(args.grid)
        cells = grid_cells(grid, narrowing)
        spaces = {cell.key: cell.space() for cell in cells}
    except (GridError, ConfigError, DataError) as error:
        return refuse(error)
    empty = [key for key, space in spaces.items() if not space]
    if empty:
        say_error(f"no search space for cell(s) {', '.join(empty)}: add a `search:` section to the model's yaml")
        return EXIT_USAGE
    store = ResultStore(f"{grid.name}{SEARCH_SUFFIX}")
    try:
        store.check_writable()
    except StoreUnwritable as error:
        say_error(error)
        return EXIT_USAGE
    from benchmark.runner.compat import CompatError, require_recbole
    from benchmark.tuning.search import search_cells

    try:
        require_recbole()
    except CompatError as error:
        say_error(error)
        return EXIT_FAILED
    budget_s = args.budget_hours * 3600 if args.budget_hours else None
    print(f"tuning {len(cells)} cell(s) of grid '{grid.name}' on validation Recall@20, "
          f"{_budget_text(args)} each; samples in {store.folder}", flush=True)
    search_cells(cells, grid.name, store, args.budget, budget_s, args.cpus_per_trial, args.search_seed, args.address)
    store.rebuild_index()
    return _write_and_run(grid, cells, store, args)


def _budget_text(args) -> str:
    return f"{args.budget} sampled configs" if args.budget else f"{args.budget_hours:g} h of sampling"


def _write_and_run(grid, cells: list[Cell], store: ResultStore, args) -> int:
    from benchmark.tuning.history import cell_samples
    from benchmark.tuning.tuned import pick_best, tuned_blocks, tuned_grid_path, write_tuned_grid

    picks, missing = [], []
    print(f"\n{'cell':<40}  samples  best valid recall@20  sample")
    for cell in cells:
        samples = cell_samples(store, cell)
        pick = pick_best(cell, samples, store)
        if pick is None:
            missing.append(cell.key)
            print(f"{cell.key:<40}  {len(samples):>7}  {'(no finished sample)':>20}")
            continue
        picks.append(pick)
        print(f"{cell.key:<40}  {len(samples):>7}  {pick[1].score:>20.4f}  {pick[1].trial_id}")
    if not picks:
        say_error(f"no cell has a finished sample; see {store.failed_dir}")
        return EXIT_FAILED
    blocks = [block for pick in picks
              for block in tuned_blocks([pick], args.seeds if args.seeds is not None else list(pick[0].seeds))]
    path = write_tuned_grid(tuned_grid_path(store.root, grid.name), grid.name, blocks, _budget_text(args))
    print(f"tuned grid: {path}", flush=True)
    status = EXIT_OK
    if missing:
        say_error(f"cell(s) without a finished sample, left out of the tuned grid: {', '.join(missing)}")
        status = EXIT_FAILED
    if args.search_only:
        print(f"run it with: python -m benchmark.run --grid {path}")
        return status
    from benchmark.run import main as run_main

    run_args = ["--grid", str(path), "--results", str(store.root), "--cpus-per-trial", str(args.cpus_per_trial)]
    run_args += ["--no-ray"] if args.no_ray else []
    run_args += ["--address", args.address] if args.address else []
    return max(status, run_main(run_args))


if __name__ == "__main__":
    raise SystemExit(main())
