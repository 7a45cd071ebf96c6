"""Run a grid: expand it, skip what the store already holds, schedule the rest, summarise.

    python -m benchmark.run --grid default                 # the embedded run (local Ray)
    python -m benchmark.run --grid table2 --datasets yelp --seeds 3 --dry-run
    python -m benchmark.run --grid beta --set formulation=paper --address 10.0.0.1:6379
    python -m benchmark.run --grid smoke --no-ray          # in-process, one trial after another
    python -m benchmark.run --grid table2 --shard 3/8      # the 3rd of 8 fixed parts (SLURM arrays)
    python -m benchmark.run --grid table2 --group-size 10  # seeds of a config train together (GPU)

A trial runs when it has no finished record; `--force` reruns finished ones, `--retry-failed`
only the failed ones, `--rerun-stale` the ones made by other code than today's. A trial another
live runner (or shard) is training is left to it. A trial that another grid under the same results
root finished with today's code (same id: same resolved config and dataset version) is copied from
there, not trained again; `--force` trains it anyway. Exit status: 0 when every trial asked for is
finished, 1 for bad data, failed trials or a store that stopped accepting writes, 2 for a bad
grid, config or command line (results root included; nothing ran), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

import yaml

from benchmark import version
from benchmark.core.errors import DataError
from benchmark.core.paths import RootError, resolve_root, results_root
from benchmark.runner.config import ConfigError
from benchmark.runner.grid import Grid, GridError, Narrowing, Trial, expand, load_grid
from benchmark.runner.groups import TrialGroup, default_group_size, form_groups, members, remaining, shard_groups
from benchmark.runner.schedule import STOP, ScheduleError, check_request
from benchmark.runner.store import ResultStore, StoreUnwritable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
REUSE_NOTE = ("{} trials {} stored by another grid under this results root and {} copied from it, not "
              "trained again (--force trains them)")
STALE_NOTE = "{} finished trials were made by other code than today's (stale): rerun them with --rerun-stale"


def comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def seeds_argument(value: str):
    parts = comma_list(value)
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count or a comma list of ints, got '{value}'") from None
    return numbers[0] if len(numbers) == 1 and "," not in value else numbers


def key_value_argument(value: str) -> tuple[str, object]:
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes key=value, got '{value}'")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"--set {key}: value is not valid yaml ({error})") from None


def _shard(value: str) -> tuple[int, int]:
    index, sep, count = value.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard takes i/n with 1 <= i <= n (e.g. 3/8), got '{value}'")
    return i, n


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{value}'")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"dmrec-bench {version()}")
    p.add_argument("--grid", required=True,
                   help="a name in benchmark/grids/ (default, smoke, table2, ...) or a yaml path")
    p.add_argument("--datasets", type=comma_list, help="comma list; replaces every block's datasets")
    p.add_argument("--models", type=comma_list, help="comma list; keeps only these models")
    p.add_argument("--matchers", type=comma_list, help="comma list; keeps only these matchers ('none' = no matcher)")
    p.add_argument("--seeds", type=seeds_argument,
                   help="a count n (seeds 0..n-1) or a comma list; replaces every block's seeds")
    p.add_argument("--set", dest="params", type=key_value_argument, action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (yaml value) for every model that declares it; repeatable; "
                        "not the axes model/dataset/matcher/seed")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="run only part I of N fixed parts of the whole grid (by trial id); narrowing still applies")
    p.add_argument("--group-size", type=positive_int, metavar="K",
                   help="train up to K trials that differ only in their seed together, as one batched model "
                        "(each is still stored as its own trial); unset: 10 when the trials train on a GPU "
                        "(--gpus-per-trial above 0, or --no-ray on a machine with CUDA), else 1; with --shard "
                        "always 1, since every shard of a run must use the same K (give it to each explicitly)")
    p.add_argument("--dry-run", action="store_true", help="list the trials and their state; run nothing")
    p.add_argument("--force", action="store_true", help="rerun trials that already have a finished record")
    p.add_argument("--retry-failed", action="store_true", help="run only the trials whose last attempt failed")
    p.add_argument("--rerun-stale", action="store_true",
                   help="also rerun finished trials made by other code (a record is replaced when its rerun finishes)")
    p.add_argument("--no-ray", action="store_true", help="run in this process, one trial after another")
    p.add_argument("--address", help="join this Ray cluster (else $RAY_ADDRESS, else a private local instance)")
    p.add_argument("--cpus-per-trial", type=float,
                   help="CPUs per trial, also its torch threads; unset: 1, or with --gpus-per-trial that share")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed")
    p.add_argument("--results", help="results root (else $DMREC_RESULTS, else <repo>/results)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write each trial's loss and validation metrics per epoch as TensorBoard event files "
                        "in <results>/<grid>/tensorboard/<trial id>/")
    return p


def say_error(message) -> None:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def refuse(error: Exception) -> int:
    """One line for a grid that cannot be expanded; its exit status: 1 for bad data, else 2 (a bad
    grid, config or command line)."""
    say_error(error)
    return EXIT_FAILED if isinstance(error, DataError) else EXIT_USAGE


def stale_ids(trials: list[Trial], store: ResultStore, finished: set[str]) -> set[str]:
    """Finished trials whose record was made by other code than today's (see benchmark.runner.provenance)."""
    from benchmark.runner.provenance import is_stale

    return {t.trial_id for t in trials if t.trial_id in finished and is_stale(store.read_record(t.trial_id))}


def select(trials: list[Trial], store: ResultStore, force: bool, retry_failed: bool,
           rerun_stale: bool = False) -> list[Trial]:
    if retry_failed:
        failed = store.failed_ids()
        return [t for t in trials if t.trial_id in failed]
    if force:
        return list(trials)
    finished = store.finished_ids()
    stale = stale_ids(trials, store, finished) if rerun_stale else set()
    return [t for t in trials if t.trial_id not in finished or t.trial_id in stale]


def elsewhere(trials: list[Trial], store: ResultStore, ids: set[str]) -> dict[str, str]:
    """Trial id -> the other grid under the same root to copy it from, for the `ids` among `trials`."""
    from benchmark.runner.execute import reusable

    return store.find_elsewhere([t.trial_id for t in trials if t.trial_id in ids], reusable)


def trial_states(trials: list[Trial], store: ResultStore) -> tuple[list[str], set[str]]:
    """Each trial's state as the dry run shows it, and the stale ones."""
    finished, failed, claimed = store.finished_ids(), store.failed_ids(), store.claimed_ids()
    stale = stale_ids(trials, store, finished)
    unfinished = {t.trial_id for t in trials if t.prepared and t.trial_id not in claimed.keys() | finished}
    found = elsewhere(trials, store, unfinished)
    states = []
    for trial in trials:
        if not trial.prepared:
            state = "dataset not prepared"
        elif trial.trial_id in claimed:
            state = "running"
        elif trial.trial_id in finished:
            state = "stale" if trial.trial_id in stale else "done"
        elif trial.trial_id in found:
            state = f"reusable from {found[trial.trial_id]}"
        else:
            state = "FAILED" if trial.trial_id in failed else "pending"
        states.append(state)
    return states, stale


def dry_run(grid: Grid, trials: list[Trial], store: ResultStore, groups: list[TrialGroup] | None = None,
            group_size: int = 1) -> None:
    """A line per trial: its id, (with `group_size` above 1) its group, its state, what it is; then the counts."""
    if group_size > 1 and groups is not None:
        trials = members(groups)  # group by group, so that a group's lines stand together
        group_of = {id(t): f"g{number}" for number, g in enumerate(groups, 1) for t in g.trials}
    states, stale = trial_states(trials, store)
    counts: dict[str, int] = {}
    width = max([7, *(len(s) for s in states if s.startswith("reusable"))])
    group_width = len(f"g{len(groups or ())}")
    for trial, state in zip(trials, states, strict=True):
        kind = "reusable" if state.startswith("reusable") else state
        counts[kind] = counts.get(kind, 0) + 1
        column = f"{group_of[id(trial)]:<{group_width}}  " if group_size > 1 and groups is not None else ""
        print(f"{trial.trial_id or '-':<16}  {column}{state:<{width}}  {trial.describe(grid.sweep_axes)}")
    order = ("done", "stale", "reusable", "running", "FAILED", "pending", "dataset not prepared")
    parts = [f"{counts[s]} {'failed' if s == 'FAILED' else s}" for s in order if counts.get(s)]
    print(f"{len(trials)} trials in grid '{grid.name}': {', '.join(parts)}")
    if group_size > 1 and groups is not None:
        print(f"{len(groups)} groups of at most {group_size} trials that differ only in their seed (g1, g2, ...): "
              f"each trains as one batched model, its finished members left out")
    if counts.get("reusable"):
        print(REUSE_NOTE.format(counts["reusable"], "are", "will be"))
    if stale:
        print(STALE_NOTE.format(len(stale)))
    unprepared = sorted({t.dataset for t in trials if not t.prepared})
    for dataset in unprepared:
        print(f"dataset '{dataset}' is not prepared: python -m benchmark.data prepare {dataset}")


def summary(grid: Grid, trials: list[Trial], store: ResultStore) -> str:
    """Test Recall@20 / NDCG@20 per (dataset, model, matcher, swept values): mean ± sample std (ddof=1,
    as in the tables) over seeds; one seed shows no ±."""
    from baselines.registry import REGISTRY
    from benchmark.analysis.stats import seed_mean_std

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

    def cell(values) -> str:
        if values is None:  # no record holds this metric (e.g. a --set topk without 20)
            return "-"
        mean, std, n = seed_mean_std(values)
        if n == 0:
            return "-"
        return f"{mean:.4f} ± {std:.4f}" if n > 1 else f"{mean:.4f}"

    body = []
    for key, group in index.groupby(keys, sort=False):
        values = dict(zip(keys, key, strict=True))
        name = REGISTRY[values["model"]].label if values["model"] in REGISTRY else values["model"]
        beta = values["beta"]
        extra = " ".join(f"{a}={values[a]}" for a in axes)
        body.append([values["dataset"], name, values["matcher"], "" if beta < 0 else f"{beta:g}",
                     *([extra] if axes else []), str(len(group)),
                     cell(group.get("test_recall@20")), cell(group.get("test_ndcg@20"))])
    header = ["dataset", "model", "matcher", "beta", *(["other"] if axes else []), "seeds", "recall@20", "ndcg@20"]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def fmt(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(b) for b in body)])


def _narrowing(args) -> Narrowing:
    return Narrowing(datasets=args.datasets, models=args.models, matchers=args.matchers, seeds=args.seeds,
                     params=dict(args.params))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with STOP.active():  # SIGINT and SIGTERM alike: see StopSignals
        try:
            return _main(args)
        except KeyboardInterrupt:  # before any trial ran (run_grid counts what it stored)
            return interrupted(0)


def interrupted(stored: int) -> int:
    print(f"\ninterrupted: {stored} trials stored, rerun the same command to resume", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def release_claims(store: ResultStore, trials: list[Trial]) -> None:
    """Remove the claims that the stopped trials left (a Ray worker killed at shutdown cannot): each is
    taken first, so a claim that a live runner holds stays."""
    for trial in trials:
        if not store.claim_path(trial.trial_id).exists():
            continue
        try:
            claim = store.claim(trial.trial_id)
        except OSError:
            continue
        if claim is not None:
            claim.release()


def check_arguments(args) -> None:
    """What argparse lets through but means nothing: an empty list or address (which would read as
    "not given" and run the whole grid, or start a local Ray), a results root that cannot be resolved."""
    for option in ("datasets", "models", "matchers", "seeds"):
        if getattr(args, option) == []:
            raise GridError(f"--{option}: an empty list; name at least one, or leave the option out for all")
    for option, unset in (("address", "to start a private local Ray instance"),
                          ("results", "for $DMREC_RESULTS, else <repo>/results")):
        if getattr(args, option) is not None and not getattr(args, option).strip():
            raise GridError(f"--{option} {getattr(args, option)!r}: empty; leave the option out {unset}")
    if args.results is not None:
        resolve_root(os.path.abspath(args.results), "--results")
    else:
        results_root()


def _main(args) -> int:
    try:
        check_arguments(args)
    except (GridError, RootError) as error:
        say_error(error)
        return EXIT_USAGE
    if args.results:
        os.environ["DMREC_RESULTS"] = os.path.abspath(args.results)
    try:
        grid = load_grid(args.grid)
        trials = expand(grid, _narrowing(args), allow_unprepared=args.dry_run)
    except (GridError, ConfigError, DataError) as error:
        return refuse(error)
    size = args.group_size or default_group_size(args.no_ray, args.gpus_per_trial, bool(args.shard), _cuda_available)
    groups = form_groups(trials, size)  # from the whole grid: what is stored or sharded never changes a group
    if args.shard:
        index, count = args.shard
        groups = shard_groups(groups, index, count) + [g for g in groups if not g.prepared]  # a dry run lists those
        kept = {t.trial_id for t in members(groups)}
        trials = [t for t in trials if t.prepared and t.trial_id in kept] + [t for t in trials if not t.prepared]
        if not trials:
            print(f"shard {index}/{count} of grid '{grid.name}' holds no trial")
            return EXIT_OK
    store = ResultStore(grid.name)
    if args.dry_run:
        dry_run(grid, trials, store, groups, size)
        return EXIT_OK
    try:
        check_request(args.cpus_per_trial, args.gpus_per_trial)  # what needs no cluster to refuse
        store.check_writable()
    except (ScheduleError, StoreUnwritable) as error:
        say_error(error)
        return EXIT_USAGE
    return run_grid(grid, trials, store, args, groups)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_grid(grid: Grid, trials: list[Trial], store: ResultStore, args, groups: list[TrialGroup] | None = None) -> int:
    """Run what `trials` leaves to do, in `groups` (default: one trial each); the exit status."""
    groups = groups if groups is not None else form_groups(trials, 1)
    todo = select(trials, store, args.force, args.retry_failed, args.rerun_stale)
    held = store.claimed_ids()
    busy = [t for t in todo if t.trial_id in held]
    todo = [t for t in todo if t.trial_id not in held]
    labels = {t.trial_id: t.describe(grid.sweep_axes) for t in trials}
    before = store.finished_ids() if todo else set()
    try:
        reused = {} if args.force else reuse_elsewhere(todo, store, args.rerun_stale)
        todo = [t for t in todo if t.trial_id not in reused]
        batches = remaining(groups, {t.trial_id for t in todo})
        part = f" (shard {args.shard[0]}/{args.shard[1]})" if args.shard else ""
        grouped = f" in {len(batches)} group{'s' * (len(batches) != 1)}" if len(batches) < len(todo) else ""
        print(f"grid '{grid.name}'{part}: {len(trials)} trials, {len(trials) - len(todo) - len(busy) - len(reused)} "
              f"already stored or skipped, {len(reused)} reused from other grids, {len(busy)} being run by another "
              f"runner, {len(todo)} to run{grouped} ({'in this process' if args.no_ray else 'Ray'}); "
              f"results in {store.folder}", flush=True)
        for trial in busy:
            holder = held[trial.trial_id]
            print(f"skip: {trial.trial_id} {labels[trial.trial_id]}: held by pid {holder.get('pid')} on "
                  f"{holder.get('host')} since {holder.get('started_at')}", flush=True)
        status = run_todo(batches, store, labels, args, reused) if todo else None
        status = finish(grid, trials, store, labels, reused) if status is None else status
        STOP.check()  # a stop whose KeyboardInterrupt was lost still ends as a stop
        return status
    except KeyboardInterrupt:
        release_claims(store, todo)
        return interrupted(len({t.trial_id for t in todo} & (store.finished_ids() - before)))


def reuse_elsewhere(todo: list[Trial], store: ResultStore, rerun_stale: bool) -> dict[str, str]:
    """Copy into this grid, each under its claim, the trials of `todo` that another grid under the same
    root finished with today's code; trial id -> the grid copied from."""
    from benchmark.runner.execute import REPLACE_STALE, reuse_stored

    found = elsewhere(todo, store, {t.trial_id for t in todo})
    reused = {}
    for trial in todo:
        STOP.check()
        if trial.trial_id in found:
            source = reuse_stored(store, trial.trial_id, found[trial.trial_id], REPLACE_STALE if rerun_stale else False)
            if source is not None:
                reused[trial.trial_id] = source
    return reused


def run_todo(todo: list[TrialGroup], store: ResultStore, labels: dict, args, reused: dict[str, str]) -> int | None:
    """Schedule the groups of trials; None when they all ended, else the exit status of what stopped them.
    The trials that were copied from another grid instead of trained are added to `reused`."""
    from benchmark.runner.compat import CompatError, require_recbole

    try:
        require_recbole()
    except CompatError as error:
        say_error(error)
        return EXIT_FAILED
    try:
        reused.update(_schedule(todo, store, labels, args))
    except ScheduleError as error:  # a request the cluster can never hold: nothing was submitted
        say_error(error)
        return EXIT_USAGE
    except StoreUnwritable as error:
        say_error(error)
        return EXIT_FAILED
    except OSError as error:  # the driver's own writes (a failure record under Ray) on a store gone bad
        say_error(f"{store.folder}: {error.strerror or error}; the grid stops here")
        return EXIT_FAILED
    return None


def _schedule(groups: list[TrialGroup], store: ResultStore, labels: dict, args) -> dict[str, str]:
    """Run the groups; trials that another grid finished meanwhile were copied: trial id -> that grid."""
    from benchmark.runner.execute import REPLACE_STALE, run_group_and_store
    from benchmark.runner.progress import Progress
    from benchmark.runner.schedule import run_sequential, run_with_ray

    todo = members(groups)
    force = True if args.force else REPLACE_STALE if args.rerun_stale else False
    parallel = 1 if args.no_ray else max(1, int((os.cpu_count() or 1) // max(args.cpus_per_trial or 1, 1e-9)))
    progress = Progress(len(todo), {t.trial_id: labels[t.trial_id] for t in todo}, parallel=parallel,
                        kinds={t.trial_id: t.model for t in todo})
    execute = functools.partial(run_group_and_store, tensorboard=True) if args.tensorboard else None
    if args.no_ray:
        run_sequential(groups, store, progress, args.cpus_per_trial, force, execute=execute)
    else:
        run_with_ray(groups, store, progress, args.cpus_per_trial, args.gpus_per_trial, args.address, force,
                     execute=execute)
    STOP.check()  # a stop whose KeyboardInterrupt was lost: never "all trials ended"
    print(progress.line("all trials ended"), flush=True)
    return progress.reused


def finish(grid: Grid, trials: list[Trial], store: ResultStore, labels: dict, reused: dict[str, str]) -> int:
    """The summary table, the trials copied from other grids, the failures, the stale records; the exit status."""
    try:
        store.rebuild_index()
    except OSError as error:
        say_error(f"{store.index_path}: cannot rebuild the index ({error.strerror or error})")
        return EXIT_FAILED
    finished, failed = store.finished_ids(), store.failed_ids()
    print(f"\n{grid.name}: test metrics, mean ± std (ddof=1) over seeds\n{summary(grid, trials, store)}")
    if reused:
        sources = ", ".join(sorted(set(reused.values())))
        print(f"{len(reused)} trials reused: copied from grid(s) {sources}, not trained again (--force trains them)")
    stale = stale_ids(trials, store, finished)
    if stale:
        print(STALE_NOTE.format(len(stale)))
    failures = [t for t in trials if t.trial_id in failed and t.trial_id not in finished]
    missing = [t for t in trials if t.trial_id not in finished and t.trial_id not in failed]
    for trial in failures:
        try:
            error = store.read_failed(trial.trial_id).get("error", "")
        except KeyError:
            error = "(failure record unreadable)"
        print(f"failed: {trial.trial_id} {labels[trial.trial_id]}: {str(error)[:300]}", file=sys.stderr)
    if failures or missing:
        where = ""
        if failures and store.failed_dir.is_dir():  # never point at a folder that does not exist
            where = f"; details in {store.failed_dir}/ (rerun with --retry-failed)"
        print(f"{len(failures)} failed, {len(missing)} not run (another runner may hold them){where}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
