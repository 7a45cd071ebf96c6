"""Run a grid: expand it, skip what the store already holds, schedule the rest, summarise.

    python -m benchmark.run --grid default                 # the embedded run (local Ray)
    python -m benchmark.run --grid table2 --datasets yelp --seeds 3 --dry-run
    python -m benchmark.run --grid beta --set formulation=paper --address 10.0.0.1:6379
    python -m benchmark.run --grid smoke --no-ray          # in-process, one trial after another

A trial runs when it has no finished record; `--force` reruns finished ones, `--retry-failed`
only the failed ones. Exit status: 0 when every trial of the grid is finished, 1 when some
failed (their errors are in results/<grid>/failed/), 2 for a bad grid or command line.
"""
from __future__ import annotations

import argparse
import os
import sys

import yaml

from benchmark.config import ConfigError
from benchmark.data.prepared import DataError
from benchmark.grid import Grid, GridError, Narrowing, Trial, expand, load_grid
from benchmark.store import ResultStore


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str):
    parts = _csv(value)
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count or a comma list of ints, got '{value}'") from None
    return numbers[0] if len(numbers) == 1 and "," not in value else numbers


def _assignment(value: str) -> tuple[str, object]:
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes key=value, got '{value}'")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"--set {key}: value is not valid yaml ({error})") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.run", description=__doc__.split("\n")[0])
    p.add_argument("--grid", required=True, help="a name in benchmark/grids/ (default, smoke, table2, ...) or a yaml path")
    p.add_argument("--datasets", type=_csv, help="comma list; replaces every block's datasets")
    p.add_argument("--models", type=_csv, help="comma list; keeps only these models")
    p.add_argument("--matchers", type=_csv, help="comma list; keeps only these matchers ('none' = no matcher)")
    p.add_argument("--seeds", type=_seeds, help="a count n (seeds 0..n-1) or a comma list; replaces every block's seeds")
    p.add_argument("--set", dest="params", type=_assignment, action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (yaml value) for every model that declares it; repeatable")
    p.add_argument("--dry-run", action="store_true", help="list the trials and which are done; run nothing")
    p.add_argument("--force", action="store_true", help="rerun trials that already have a finished record")
    p.add_argument("--retry-failed", action="store_true", help="run only the trials whose last attempt failed")
    p.add_argument("--no-ray", action="store_true", help="run in this process, one trial after another")
    p.add_argument("--address", help="join this Ray cluster (default: $RAY_ADDRESS, else a private local instance)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial; also its torch threads (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed (default 0)")
    p.add_argument("--results", help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    return p


def select(trials: list[Trial], store: ResultStore, force: bool, retry_failed: bool) -> list[Trial]:
    if retry_failed:
        failed = store.failed_ids()
        return [t for t in trials if t.trial_id in failed]
    if force:
        return list(trials)
    finished = store.finished_ids()
    return [t for t in trials if t.trial_id not in finished]


def dry_run(grid: Grid, trials: list[Trial], store: ResultStore) -> None:
    finished, failed = store.finished_ids(), store.failed_ids()
    for trial in trials:
        state = "done" if trial.trial_id in finished else "FAILED" if trial.trial_id in failed else "pending"
        print(f"{trial.trial_id}  {state:<7}  {trial.describe(grid.sweep_axes)}")
    done = sum(t.trial_id in finished for t in trials)
    bad = sum(t.trial_id in failed for t in trials)
    print(f"{len(trials)} trials in grid '{grid.name}': {done} done, {bad} failed, {len(trials) - done - bad} pending")


def summary(grid: Grid, trials: list[Trial], store: ResultStore) -> str:
    """Test Recall@20 / NDCG@20 per (dataset, model, matcher, swept values), mean and std over seeds."""
    from benchmark.models import REGISTRY

    index = store.index()
    index = index[index["trial_id"].astype(str).isin({t.trial_id for t in trials})]
    if index.empty:
        return "no finished trials"
    order = {t.trial_id: position for position, t in enumerate(trials)}  # rows in the grid's own order
    index = index.assign(_order=index["trial_id"].astype(str).map(order)).sort_values("_order")
    configs = {t.trial_id: t.config for t in trials}
    axes = [a for a in grid.sweep_axes if a not in ("beta",)]
    for axis in axes:
        index[axis] = [str(configs[t].get(axis)) for t in index["trial_id"].astype(str)]
    keys = ["dataset", "model", "matcher", "beta", *axes]
    index["beta"] = index["beta"].fillna(-1.0)  # groupby drops NaN keys
    rows = []
    for key, group in index.groupby(keys, sort=False):
        values = dict(zip(keys, key))
        name = REGISTRY[values["model"]].label if values["model"] in REGISTRY else values["model"]
        beta = values["beta"]
        extra = "".join(f" {a}={values[a]}" for a in axes)
        rows.append((values["dataset"], name, values["matcher"], "" if beta < 0 else f"{beta:g}", extra.strip(),
                     len(group), group["test_recall@20"].mean(), group["test_recall@20"].std(ddof=0),
                     group["test_ndcg@20"].mean(), group["test_ndcg@20"].std(ddof=0)))
    header = ("dataset", "model", "matcher", "beta", "other", "seeds", "recall@20", "ndcg@20")
    if not axes:
        header = header[:4] + header[5:]
    body = []
    for r in rows:
        cells = [r[0], r[1], r[2], r[3]] + ([r[4]] if axes else []) + [
            str(r[5]), f"{r[6]:.4f} ± {r[7]:.4f}", f"{r[8]:.4f} ± {r[9]:.4f}"]
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(b) for b in body)])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.results:
        os.environ["DMREC_RESULTS"] = os.path.abspath(args.results)
    narrowing = Narrowing(datasets=args.datasets, models=args.models, matchers=args.matchers, seeds=args.seeds,
                          params=dict(args.params))
    try:
        grid = load_grid(args.grid)
        trials = expand(grid, narrowing)
    except (GridError, ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = ResultStore(grid.name)
    if args.dry_run:
        dry_run(grid, trials, store)
        return 0
    todo = select(trials, store, args.force, args.retry_failed)
    labels = {t.trial_id: t.describe(grid.sweep_axes) for t in trials}
    print(f"grid '{grid.name}': {len(trials)} trials, {len(trials) - len(todo)} already stored or skipped, "
          f"{len(todo)} to run ({'in this process' if args.no_ray else 'Ray'}); results in {store.folder}", flush=True)
    if todo:
        from benchmark.progress import Progress
        from benchmark.schedule import run_sequential, run_with_ray

        parallel = 1 if args.no_ray else max(1, int((os.cpu_count() or 1) // max(args.cpus_per_trial, 1e-9)))
        progress = Progress(len(todo), {t.trial_id: labels[t.trial_id] for t in todo}, parallel=parallel,
                            kinds={t.trial_id: t.model for t in todo})
        if args.no_ray:
            run_sequential(todo, store, progress, args.cpus_per_trial, args.force)
        else:
            run_with_ray(todo, store, progress, args.cpus_per_trial, args.gpus_per_trial, args.address, args.force)
        print(progress.line("all trials ended"), flush=True)
    store.rebuild_index()
    finished, failed = store.finished_ids(), store.failed_ids()
    print(f"\n{grid.name}: test metrics, mean ± std over seeds\n{summary(grid, trials, store)}")
    failures = [t for t in trials if t.trial_id in failed and t.trial_id not in finished]
    missing = [t for t in trials if t.trial_id not in finished and t.trial_id not in failed]
    for trial in failures:
        error = store.read_failed(trial.trial_id).get("error", "") if trial.trial_id in failed else ""
        print(f"failed: {trial.trial_id} {labels[trial.trial_id]}: {error[:300]}", file=sys.stderr)
    if failures or missing:
        print(f"{len(failures)} failed, {len(missing)} not run; details in {store.failed_dir}/ "
              f"(rerun with --retry-failed)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.argv = sys.argv[:1]  # RecBole's Config parses sys.argv for its own options; ours are not
    raise SystemExit(main(arguments))
