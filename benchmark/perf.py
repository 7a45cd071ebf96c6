"""Speed of DMRec against its base, of concurrent trials, and of Table 2, on one CPU or GPU.

    python -m benchmark.perf [--device cpu|cuda] [--dataset amazon] [--synthetic]
                             [--concurrent 1,2,4,8] [--project table2] [--out DIR] [--record]

Three stages, each time-boxed by `--time-limit` and each writing its table (CSV and Markdown) to
`--out` as soon as it finishes:

epoch       Mult-VAE and DMRec-G/C/M take turns for `--repeats` rounds (so a burst of load from
            other processes hits all of them alike): the seconds of one training epoch (the
            suite's trainer, Adam step included) and of one full-ranking evaluation of every user
            with training items, medians; the DMRec/base ratio (median of same-round ratios); the
            decoder's floor, its 3 products (forward, input and weight gradient) of 2 x U x 600 x N
            flop at the matmul rate measured on those shapes, and the time beyond it.
concurrent  N processes each running one short fixed-epoch trial (`--trial-model`, DMRec-M of
            Mult-VAE by default) on the same device at once: trials per hour at each N, the CPU
            threads split between them. Process start, data loading and the test count, as in a grid.
project     the wall time of a grid (Table 2: 360 trials) on one device: per-epoch and
            per-evaluation seconds measured for every (dataset, model, matcher) of the grid on a
            synthetic dataset of the paper's Table 1 shape, times the epochs each trial runs
            (the mean of stored finished runs of that grid when the results store has them, else
            `--project-epochs`), serially and at the best measured concurrency.

On CUDA the device is synchronised before every clock read. A dataset that is not prepared is
replaced by a synthetic stand-in of its size (`--synthetic`, with a note): random Zipf-like
interactions split 3:1:1 per user and random 1536-d text vectors; say so when quoting numbers.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from benchmark import version
from benchmark.core.atomic import atomic_write
from benchmark.core.paper import paper_dataset, table1_counts

TEXT_DIM = 1536  # RLMRec's text vectors (text-embedding-ada-002)
VARIANTS = (("Mult-VAE", "none"), ("DMRec-G", "godm"), ("DMRec-C", "cpdm"), ("DMRec-M", "mddm"))
MATCHER_LABELS = {"none": "base", "godm": "DMRec-G", "cpdm": "DMRec-C", "mddm": "DMRec-M"}


# ----------------------------------------------------------------------------- data and devices

def synthetic_dataset(name: str, n_users: int, n_items: int, n_interactions: int, text_dim: int, seed: int = 0):
    """A random PreparedDataset of the given size: Zipf-like item popularity, split 3:1:1 per user."""
    from benchmark.data.prepared import PreparedDataset

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    per_user = np.maximum(rng.poisson(n_interactions / n_users, n_users), 5)
    rows, cols, split = [], [], []
    for user, count in enumerate(per_user):
        items = rng.choice(n_items, size=min(count, n_items), replace=False, p=popularity)
        labels = np.resize([0, 0, 0, 1, 2], len(items))[rng.permutation(len(items))]
        rows.append(np.full(len(items), user))
        cols.append(items)
        split.append(labels)
    rows, cols, split = map(np.concatenate, (rows, cols, split))
    splits = {name_: sp.csr_matrix((np.ones((split == k).sum(), np.float32), (rows[split == k], cols[split == k])),
                                   shape=(n_users, n_items)) for k, name_ in enumerate(("train", "valid", "test"))}
    return PreparedDataset(name, splits, rng.normal(size=(n_users, text_dim)).astype(np.float32) / 40,
                           rng.normal(size=(n_items, text_dim)).astype(np.float32) / 40,
                           info={"source": "benchmark/perf.py synthetic stand-in"})


def table1_shape(dataset: str) -> tuple[dict, str]:
    """(shape, where it comes from) of a paper dataset from the paper's Table 1; Amazon-Book's
    for any other name."""
    paper = paper_dataset(dataset)
    where = f"paper Table 1 ({paper})"
    if paper is None:
        where = f"paper Table 1 (amazon; '{dataset.split('-', 1)[0].lower()}' is not a paper dataset)"
        paper = "amazon"
    counts = table1_counts()[paper]
    shape = {key: counts[key] for key in ("n_users", "n_items", "n_interactions")}
    return {**shape, "text_dim": TEXT_DIM}, where


def parse_shape(text: str) -> dict:
    """USERS,ITEMS,INTERACTIONS,DIM -> a shape (for tiny measurements and tests)."""
    try:
        users, items, interactions, dim = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected USERS,ITEMS,INTERACTIONS,DIM integers") from None
    if min(users, items, interactions, dim) < 1 or items < 8:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: every number must be positive, items >= 8")
    return {"n_users": users, "n_items": items, "n_interactions": interactions, "text_dim": dim}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """perf_counter after the device has finished its queued work."""
    synchronize(device)
    return time.perf_counter()


def matmul_rate(batch: int, hidden: int, n_items: int, device: torch.device, repeats: int = 5) -> float:
    """Flop/s of the decoder's three products at the training batch size (median of repeats)."""
    h, w = torch.randn(batch, hidden, device=device), torch.randn(n_items, hidden, device=device)
    g = torch.randn(batch, n_items, device=device)
    flops = 3 * 2 * batch * hidden * n_items
    timings = []
    for _ in range(repeats + 1):
        tick = clock(device)
        h @ w.T       # forward logits (B, N)
        g @ w         # input gradient (B, 600)
        g.T @ h       # weight gradient (N, 600)
        timings.append(clock(device) - tick)
    return flops / max(statistics.median(timings[1:]), 1e-12)


# ----------------------------------------------------------------------------- tables

@dataclass
class Table:
    """One stage's result: rows of plain values, the notes that say where numbers came from."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cell(self, value) -> str:
        if isinstance(value, float):
            return "n/a" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(self.cell(row.get(c, "")) for c in self.columns) + " |" for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes]) + "\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def write(self, out: Path | None) -> None:
        """Print the table, and write `<out>/perf_<name>.{csv,md}` atomically."""
        print("\n" + self.markdown(), flush=True)
        if out is None:
            return
        for suffix, text in (("csv", self.csv()), ("md", self.markdown())):
            atomic_write(out / f"perf_{self.name}.{suffix}", text)


# ----------------------------------------------------------------------------- stage: epoch

@dataclass
class Variant:
    """One model built as a trial builds it, with its trainer, loader and evaluation targets."""

    net: torch.nn.Module
    trainer: object
    loader: object
    valid: object
    test: object
    config: object  # RecBole Config
    train_set: object


def build_variant(model: str, dataset: str, matcher: str, device: torch.device, params: dict | None = None) -> Variant:
    from benchmark.runner.config import resolve
    from benchmark.runner.grid import accepts_matcher
    from benchmark.runner.training.evaluation import RankingTarget
    from benchmark.runner.training.loaders import make_train_loader
    from benchmark.runner.training.trainer import ProtocolTrainer
    from benchmark.runner.trial import build_recbole

    layer = {**(params or {}), "use_gpu": device.type == "cuda"}
    if accepts_matcher(model):
        layer["matcher"] = matcher
    recbole_config, cls, (train_set, valid_set, test_set) = build_recbole(resolve(model, dataset, layer))
    torch.manual_seed(0)
    net = cls(recbole_config, train_set).to(device)
    return Variant(net, ProtocolTrainer(recbole_config, net),
                   make_train_loader(net, train_set, recbole_config, torch.Generator().manual_seed(0)),
                   RankingTarget.from_datasets("valid", train_set, valid_set).to(device),
                   RankingTarget.from_datasets("test", train_set, test_set).to(device), recbole_config, train_set)


def timed_epoch(trainer, loader, epoch: int, device: torch.device) -> float:
    """Seconds of one training epoch as `fit` runs it (the model's epoch hook included)."""
    tick = clock(device)
    if hasattr(trainer.model, "on_epoch_start"):
        trainer.model.on_epoch_start(epoch)
    trainer._train_epoch(loader, epoch)
    return clock(device) - tick


def timed_evaluation(net, target, config, device: torch.device) -> float:
    from benchmark.runner.training.evaluation import evaluate_full_ranking

    tick = clock(device)
    evaluate_full_ranking(net, target, tuple(config["topk"]), int(config["eval_batch_size"]))
    seconds = clock(device) - tick
    net.train()
    return seconds


def host_syncs(run, device: torch.device) -> int | str:
    """How many times `run()` makes the host wait for the device, counted by torch's CUDA sync
    debug mode (each synchronising call warns once); "-" off CUDA, where there is no queue to wait for."""
    if device.type != "cuda":
        return "-"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)


SYNC_ONLY_MODELS = (("L-DiffRec", "ldiffrec"), ("CVGA", "cvga"))  # their host syncs, counted on CUDA after the table


def epoch_stage(args, device: torch.device, source: str) -> Table:
    """The interleaved Mult-VAE / DMRec-G/C/M table."""
    from benchmark.core.interactions import train_matrix
    from benchmark.runner.training.evaluation import RankingTarget

    deadline = time.monotonic() + args.time_limit
    variants = {label: build_variant("multvae", args.dataset, matcher, device) for label, matcher in VARIANTS}
    models = {label: v.net for label, v in variants.items()}
    trainers = {label: v.trainer for label, v in variants.items()}
    loaders = {label: v.loader for label, v in variants.items()}
    valid, config, train_set = variants["Mult-VAE"].valid, variants["Mult-VAE"].config, variants["Mult-VAE"].train_set
    # every user with training items is ranked, not only those with validation items; the metrics
    # of users without any are 0/0 and not used here
    counts = np.diff(train_matrix(train_set).indptr)
    target = RankingTarget("all users", torch.as_tensor(np.flatnonzero(counts)).to(device), valid.truth, valid.mask,
                           counts[counts > 0])
    n_users, hidden, batch = train_set.user_num - 1, int(config["hidden_size"]), int(config["train_batch_size"])
    flops = 3 * 2 * n_users * hidden * train_set.item_num
    print(f"epoch stage: {source}: {n_users} users, {train_set.item_num - 1} items, {int(counts.sum())} training "
          f"interactions; device {device_name(device)}; torch threads {torch.get_num_threads()}", flush=True)
    epoch_s = {label: [] for label in models}
    eval_s = {label: [] for label in models}
    rates: list[float] = []
    rounds = 0
    for round_ in range(args.repeats + 1):  # round 0 warms up and is not counted
        for label, net in models.items():
            rate = matmul_rate(batch, hidden, train_set.item_num, device)
            seconds = timed_epoch(trainers[label], loaders[label], round_, device)
            eval_seconds = timed_evaluation(net, target, config, device)
            if round_:
                rates.append(rate)
                epoch_s[label].append(seconds)
                eval_s[label].append(eval_seconds)
        if round_:
            rounds = round_
            print(f"  round {round_}: " + "  ".join(f"{k} {epoch_s[k][-1]:.3f}/{eval_s[k][-1]:.3f}s" for k in models)
                  + " (epoch/eval)", flush=True)
            if time.monotonic() > deadline:
                break
    median = statistics.median
    rate = median(rates)
    floor = flops / rate
    table = Table("epoch", f"Epoch and evaluation seconds, Mult-VAE and DMRec ({device_name(device)})",
                  ["model", "epoch_s", "best_epoch_s", "vs_base", "floor_s", "beyond_floor_s", "vs_floor",
                   "eval_s", "best_eval_s", "steps", "syncs_epoch", "syncs_eval"])
    for label in models:
        same_round = zip(epoch_s[label], epoch_s["Mult-VAE"], strict=True)
        ratio = median([mine / base for mine, base in same_round])
        table.rows.append({
            "model": label, "epoch_s": median(epoch_s[label]), "best_epoch_s": min(epoch_s[label]),
            "vs_base": ratio, "floor_s": floor, "beyond_floor_s": median(epoch_s[label]) - floor,
            "vs_floor": median(epoch_s[label]) / floor, "eval_s": median(eval_s[label]),
            "best_eval_s": min(eval_s[label]), "steps": len(loaders[label]),
            "syncs_epoch": host_syncs(lambda k=label: trainers[k]._train_epoch(loaders[k], rounds + 1), device),
            "syncs_eval": host_syncs(lambda k=label: timed_evaluation(models[k], target, config, device), device),
        })
    for label, model in SYNC_ONLY_MODELS if device.type == "cuda" else ():
        if time.monotonic() > deadline:
            break
        other = build_variant(model, args.dataset, "none", device)
        other.trainer._train_epoch(other.loader, 0)  # warm-up
        table.rows.append({
            "model": label, "steps": len(other.loader),
            "syncs_epoch": host_syncs(lambda o=other: o.trainer._train_epoch(o.loader, 1), device),
            "syncs_eval": host_syncs(lambda o=other: timed_evaluation(o.net, o.valid, o.config, device), device),
        })
    table.notes += [
        f"data: {source}; {n_users} users, {train_set.item_num - 1} items; device {device_name(device)}, "
        f"torch threads {torch.get_num_threads()}",
        f"{rounds} counted round(s) after a warm-up" + (" (stopped by --time-limit)" if rounds < args.repeats else "")
        + "; medians; 'best' is the least disturbed round; vs_base is the median of same-round ratios",
        f"epoch: one pass over the training users, batches of {batch}, Adam step included; eval: full ranking "
        f"of {len(target.users)} users",
        f"floor: 3 x 2 x {n_users} x {hidden} x {train_set.item_num} flop at the measured matmul rate on the "
        f"decoder's shapes, median {rate / 1e9:.1f} GFLOP/s (best {max(rates) / 1e9:.1f})",
        "syncs: host waits for the device in one more epoch (of `steps` steps) and one evaluation, counted by "
        "torch.cuda.set_sync_debug_mode; '-' on the CPU",
    ]
    return table


# ----------------------------------------------------------------------------- stage: concurrent

def one_trial(args, device: torch.device) -> int:
    """Train one short fixed-epoch trial (one validation at its last epoch, then the test) and print
    {"seconds", "train_s", "epochs"} as JSON: a trial's training and evaluation work, without the
    record around it."""
    started = time.perf_counter()
    params = {"epochs": args.trial_epochs, "eval_step": args.trial_epochs, "first_eval_epoch": None, "seed": args.seed}
    variant = build_variant(args.trial_model, args.dataset, args.trial_matcher, device, params)
    variant.trainer.fit(variant.loader, variant.valid)
    variant.trainer.evaluate(variant.test)
    synchronize(device)
    print(json.dumps({"seconds": time.perf_counter() - started, "train_s": variant.trainer.train_seconds,
                      "epochs": variant.trainer.epochs_run}), flush=True)
    return 0


def concurrent_stage(args, device: torch.device, source: str) -> Table:
    """Trials per hour with N trial processes sharing one device, for each N of --concurrent."""
    deadline = time.monotonic() + args.time_limit
    cores = os.cpu_count() or 1
    table = Table("concurrent", f"Concurrent trials on one device ({device_name(device)})",
                  ["n", "wall_s", "trials", "trials_per_hour", "mean_trial_s", "threads_each", "speedup"])
    base_rate = None
    for n in args.concurrent:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            table.notes.append(f"N = {n} and above not run: --time-limit {args.time_limit:g} s reached")
            break
        threads = max(1, cores // n)
        command = [sys.executable, "-m", "benchmark.perf", "--one-trial", "--device", device.type,
                   "--dataset", args.dataset, "--trial-model", args.trial_model, "--trial-matcher",
                   args.trial_matcher, "--trial-epochs", str(args.trial_epochs), "--threads", str(threads)]
        logs = [tempfile.TemporaryFile(mode="w+") for _ in range(n)]  # files, not pipes: a chatty child never blocks
        tick = time.perf_counter()
        processes = [subprocess.Popen([*command, "--seed", str(i)], stdout=log, stderr=subprocess.STDOUT, text=True)
                     for i, log in enumerate(logs)]
        timed_out = False
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
        wall = time.perf_counter() - tick
        outputs = []
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is None:  # only the processes this stage started
                process.kill()
                process.wait()
            log.seek(0)
            outputs.append(log.read().strip().splitlines() or ["no output"])
            log.close()
        if timed_out:
            table.notes.append(f"N = {n} stopped by --time-limit {args.time_limit:g} s; not counted")
            break
        failed = [i for i, process in enumerate(processes) if process.returncode != 0]
        if failed:
            table.notes.append(f"N = {n}: {len(failed)} trial process(es) failed ({outputs[failed[0]][-1]}); "
                               "not counted")
            break
        seconds = [json.loads(lines[-1])["seconds"] for lines in outputs]
        rate = n * 3600 / wall
        base_rate = base_rate or rate  # the first N measured (N = 1 unless asked otherwise)
        table.rows.append({"n": n, "wall_s": wall, "trials": n, "trials_per_hour": rate,
                           "mean_trial_s": statistics.mean(seconds), "threads_each": threads,
                           "speedup": rate / base_rate})
        print(f"  {n} concurrent: {wall:.1f} s wall, {rate:.0f} trials/hour", flush=True)
    label = MATCHER_LABELS.get(args.trial_matcher, args.trial_matcher)
    table.notes[:0] = [
        f"each process: one {args.trial_model} {label} trial of {args.trial_epochs} epoch(s), one validation and "
        f"the test, on {source}; wall_s includes process start, imports and data loading (a grid pays them too), "
        "not the stored record's bookkeeping",
        f"{cores} CPU cores split evenly between the processes (threads_each); speedup is trials per hour "
        f"relative to N = {args.concurrent[0]}; mean_trial_s is a trial's time inside its process, after imports",
    ]
    return table


def earlier_concurrency(out: Path | None) -> Table | None:
    """The concurrent table an earlier run wrote to `out` (the GPU script runs each stage in its
    own process), so the projection can use its measured speedup; None when there is none."""
    path = out / "perf_concurrent.csv" if out is not None else None
    if path is None or not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = [{"n": int(row["n"]), "speedup": float(row["speedup"])} for row in csv.DictReader(handle)]
    return Table("concurrent", f"read from {path}", ["n", "speedup"], rows)


def best_speedup(table: Table | None) -> tuple[float, int] | None:
    if table is None or not table.rows:
        return None
    best = max(table.rows, key=lambda row: row["speedup"])
    return best["speedup"], best["n"]


# ----------------------------------------------------------------------------- stage: project

def stored_epochs(grid: str) -> dict[tuple[str, str, str], float]:
    """Mean epochs run per (dataset, model, matcher) over the grid's finished stored records."""
    from benchmark.runner.store import ResultStore

    runs: dict[tuple[str, str, str], list[int]] = {}
    try:
        records = ResultStore(grid).records()
    except Exception as error:  # noqa: BLE001 (a missing or unreadable store only means: no stored runs)
        print(f"perf: no stored runs of '{grid}' read ({type(error).__name__}: {error})", flush=True)
        return {}
    for record in records:
        config = record.get("config") or {}
        key = (config.get("dataset"), config.get("model"), config.get("matcher") or "none")
        if isinstance(record.get("epochs_run"), int):
            runs.setdefault(key, []).append(record["epochs_run"])
    return {key: statistics.mean(values) for key, values in runs.items()}


def grid_cells(grid_name: str) -> list[tuple[str, str, str, int, dict]]:
    """(dataset, model, matcher, trials, params) for every cell of the grid."""
    from benchmark.runner.grid import accepts_matcher, load_grid

    cells: dict[tuple[str, str, str], list] = {}
    for block in load_grid(grid_name).blocks:
        sweeps = math.prod(len(v) for v in block.sweep.values()) if block.sweep else 1
        for dataset in block.datasets:
            for model in block.models:
                matchers = (block.matchers or ("none",)) if accepts_matcher(model) else ("none",)
                for matcher in matchers:
                    cell = cells.setdefault((dataset, model, matcher), [0, dict(block.params)])
                    cell[0] += len(block.seeds) * sweeps
    return [(*key, trials, params) for key, (trials, params) in cells.items()]


def project_stage(args, device: torch.device, concurrency: Table | None, root: Path) -> Table:
    """Projected wall time of `--project` on one device from measured per-epoch times."""
    from benchmark.data.prepared import write_prepared
    from benchmark.runner.training.trainer import validation_epochs

    deadline = time.monotonic() + args.time_limit
    cells = grid_cells(args.project)
    stored = stored_epochs(args.project)
    measured: dict[tuple[str, str, str], tuple[float, float, int, int | None]] = {}
    shapes: dict[str, str] = {}
    # base and DMRec-M first for every (dataset, model): what the time limit leaves out is
    # then filled from DMRec-M, the closest in cost
    order = sorted(cells, key=lambda c: (c[2] not in ("none", "mddm"), c[0], c[1], c[2]))
    for dataset, model, matcher, _, params in order:
        if time.monotonic() > deadline:
            break
        if dataset not in shapes:
            shape, where = (args.shape, "--shape") if args.shape else table1_shape(dataset)
            write_prepared(synthetic_dataset(dataset, **shape), root=root / "prepared")
            shapes[dataset] = f"{where}: {shape['n_users']} users, {shape['n_items']} items, " \
                              f"{shape['n_interactions']} interactions"
        variant = build_variant(model, dataset, matcher, device, params)
        timed_epoch(variant.trainer, variant.loader, 0, device)  # warm-up
        epochs = [timed_epoch(variant.trainer, variant.loader, i + 1, device) for i in range(args.repeats)]
        evaluation = timed_evaluation(variant.net, variant.valid, variant.config, device)
        measured[(dataset, model, matcher)] = (statistics.median(epochs), evaluation, int(variant.config["eval_step"]),
                                               variant.config["first_eval_epoch"])
        del variant
    table = Table("project", f"Projected {args.project} on one device ({device_name(device)})",
                  ["dataset", "model", "variant", "trials", "epochs", "epochs_from", "epoch_s", "eval_s",
                   "trial_s", "total_s", "timing_from"])
    total, complete = 0.0, True
    for dataset, model, matcher, trials, _ in sorted(cells):
        key = (dataset, model, matcher)
        timing, timing_from = measured.get(key), "measured"
        if timing is None and (dataset, model, "mddm") in measured:
            timing, timing_from = measured[(dataset, model, "mddm")], "DMRec-M's (time limit)"
        if (dataset, model, matcher) in stored:
            epochs, epochs_from = stored[key], "stored runs"
        elif any(k[1:] == key[1:] for k in stored):
            epochs = statistics.mean(v for k, v in stored.items() if k[1:] == key[1:])
            epochs_from = "stored runs, other datasets"
        else:
            epochs, epochs_from = float(args.project_epochs), "default"
        row = {"dataset": dataset, "model": model, "variant": MATCHER_LABELS.get(matcher, matcher), "trials": trials,
               "epochs": epochs, "epochs_from": epochs_from}
        if timing is None:
            complete = False
            table.rows.append({**row, "epoch_s": math.nan, "eval_s": math.nan, "trial_s": math.nan,
                               "total_s": math.nan, "timing_from": "not measured (time limit)"})
            continue
        epoch_s, eval_s, eval_step, first = timing
        evaluations = len(validation_epochs(round(epochs), eval_step, first)) + 1  # validations and the test
        trial_s = epochs * epoch_s + evaluations * eval_s
        total += trials * trial_s
        table.rows.append({**row, "epoch_s": epoch_s, "eval_s": eval_s, "trial_s": trial_s,
                           "total_s": trials * trial_s, "timing_from": timing_from})
    n_trials = sum(c[3] for c in cells)
    summary = f"{n_trials} trials, serially: {total / 60:.1f} min"
    if not complete:
        summary += " (cells not measured excluded)"
    speedup = best_speedup(concurrency)
    if speedup and speedup[0] > 0:
        summary += (f"; at {speedup[1]} concurrent trials (measured speedup {speedup[0]:.2f}, "
                    f"{concurrency.title}): {total / speedup[0] / 60:.1f} min")
    table.rows.append({"dataset": "all", "model": "", "variant": "", "trials": n_trials, "total_s": total,
                       "timing_from": "sum" + ("" if complete else " of measured cells")})
    table.notes += [
        summary,
        "shapes (synthetic stand-ins with random text vectors): " + "; ".join(f"{d}: {s}" for d, s in shapes.items()),
        f"epochs per trial: the mean of stored finished '{args.project}' runs per cell where the results store "
        f"has them, else the same model and variant on other datasets, else the default {args.project_epochs} "
        "(--project-epochs); per-epoch and per-evaluation seconds measured here (median of "
        f"{args.repeats} epochs after a warm-up, one evaluation of the validation users)",
        "trial_s = epochs x epoch_s + (validations + test) x eval_s; data loading and process start excluded "
        "(see the concurrent table for a whole trial's cost)",
    ]
    return table


# ----------------------------------------------------------------------------- command line

def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def concurrency_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--concurrent {text!r}: expected comma-separated integers, "
                                         "e.g. 1,2,4,8") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--concurrent {text!r}: every N must be >= 1")
    return sorted(set(values))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.perf", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the models run")
    p.add_argument("--dataset", default="amazon", help="prepared dataset with text vectors (synthetic stand-in "
                   "of its Table 1 shape when not prepared)")
    p.add_argument("--synthetic", action="store_true", help="time a random dataset of the dataset's Table 1 shape")
    p.add_argument("--shape", type=parse_shape, default=None, metavar="U,I,N,D",
                   help="shape (users, items, interactions, text dim) of synthetic data, instead of Table 1's")
    p.add_argument("--repeats", type=int, default=5, help="rounds (epoch stage) and timed epochs (project stage)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (none: torch's choice)")
    p.add_argument("--skip-epoch-table", action="store_true", help="run only the other stages asked for")
    p.add_argument("--concurrent", type=concurrency_list, default=None, metavar="N,N,...",
                   help="also measure trials per hour with N concurrent trial processes, e.g. 1,2,4,8")
    p.add_argument("--trial-model", default="multvae", help="model of the concurrent stage's trials")
    p.add_argument("--trial-matcher", default="mddm", help="matcher of the concurrent stage's trials")
    p.add_argument("--trial-epochs", type=int, default=3, help="epochs of each concurrent-stage trial")
    p.add_argument("--project", default=None, metavar="GRID", help="also project this grid's wall time, e.g. table2")
    p.add_argument("--project-epochs", type=int, default=100,
                   help="epochs per trial where no stored run of the grid says otherwise")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds each stage may take")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for perf_<stage>.{csv,md}, each written when done (none: print only)")
    p.add_argument("--record", action="store_true",
                   help="store the tables as a dated measurement in docs/measurements/perf-<device>.md")
    p.add_argument("--one-trial", action="store_true", help=argparse.SUPPRESS)  # a concurrent stage's child
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _run(parser().parse_args(argv), argv)


def _run(args, argv: list[str]) -> int:
    if args.repeats < 1 or args.trial_epochs < 1 or args.time_limit <= 0 or args.project_epochs < 1:
        print("perf: --repeats, --trial-epochs, --project-epochs and --time-limit must be positive", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("perf: --device cuda, but torch sees no CUDA device (torch.cuda.is_available() is False)",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.one_trial:
        return one_trial(args, device)
    if args.project:
        from benchmark.runner.grid import GridError, load_grid

        try:
            load_grid(args.project)
        except GridError as error:
            print(f"perf: --project: {error}", file=sys.stderr)
            return 2
    if args.concurrent:
        from benchmark.runner.config import resolve

        try:  # before any child starts: a typo is one line, not N failed processes
            resolve(args.trial_model, args.dataset, {"matcher": args.trial_matcher})
        except (KeyError, ValueError) as error:
            print(f"perf: --trial-model/--trial-matcher: {error.args[0] if error.args else error}", file=sys.stderr)
            return 2
    from benchmark.core.errors import DataError
    from benchmark.data.layout import read_meta

    needs_dataset = not args.skip_epoch_table or bool(args.concurrent)
    synthetic = args.synthetic
    if needs_dataset and not synthetic:
        try:
            read_meta(args.dataset)
        except DataError:
            synthetic = True
            print(f"perf: dataset '{args.dataset}' is not prepared here; timing a synthetic stand-in of its shape "
                  "instead (as --synthetic)", flush=True)
    previous_root = os.environ.get("DMREC_DATA")
    with tempfile.TemporaryDirectory(prefix="dmrec-perf-") as scratch:
        try:
            source = f"prepared dataset '{args.dataset}'"
            if needs_dataset and synthetic:
                from benchmark.data.prepared import write_prepared

                shape, where = (args.shape, "--shape") if args.shape else table1_shape(args.dataset)
                os.environ["DMREC_DATA"] = scratch  # the children of the concurrent stage inherit it
                write_prepared(synthetic_dataset(args.dataset, **shape), root=Path(scratch) / "prepared")
                source = f"synthetic stand-in of '{args.dataset}' ({where})"
            tables = run_stages(args, device, source, Path(scratch))
        finally:
            if previous_root is None:
                os.environ.pop("DMREC_DATA", None)
            else:
                os.environ["DMREC_DATA"] = previous_root
    if args.record and tables:
        from benchmark.measurements import record_measurement

        path = record_measurement(f"perf-{args.device}", ["python", "-m", "benchmark.perf", *argv],
                                  "\n".join(table.markdown() for table in tables))
        print(f"perf: recorded {path}")
    return 0


def run_stages(args, device: torch.device, source: str, scratch: Path) -> list[Table]:
    tables: list[Table] = []
    concurrency = None
    if not args.skip_epoch_table:
        tables.append(epoch_stage(args, device, source))
        tables[-1].write(args.out)
    if args.concurrent:
        concurrency = concurrent_stage(args, device, source)
        tables.append(concurrency)
        concurrency.write(args.out)
    if args.project:
        if concurrency is None:
            concurrency = earlier_concurrency(args.out)
        project_root = scratch / "project"
        previous = os.environ.get("DMREC_DATA")
        os.environ["DMREC_DATA"] = str(project_root)  # the grid's dataset names, at their shapes
        try:
            tables.append(project_stage(args, device, concurrency, project_root))
        finally:
            if previous is None:
                os.environ.pop("DMREC_DATA", None)
            else:
                os.environ["DMREC_DATA"] = previous
        tables[-1].write(args.out)
    return tables


if __name__ == "__main__":
    raise SystemExit(main())
