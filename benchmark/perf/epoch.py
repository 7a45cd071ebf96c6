"""Stage `epoch`: Mult-VAE and DMRec-G/C/M take turns; seconds of one epoch and one evaluation each."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from benchmark.perf.clocks import device_name, host_syncs, matmul_rate
from benchmark.perf.table import Table
from benchmark.perf.variants import build_variant, timed_epoch, timed_evaluation, variant_config, variant_label

BASE, MATCHERS = "multvae", ("none", "godm", "cpdm", "mddm")  # the table's rows: the base, then DMRec-G/C/M
SYNC_ONLY_MODELS = ("ldiffrec", "cvga")  # their host syncs, counted on CUDA after the table
COLUMNS = ["model", "epoch_s", "best_epoch_s", "vs_base", "floor_s", "beyond_floor_s", "vs_floor",
           "eval_s", "best_eval_s", "steps", "syncs_epoch", "syncs_eval"]


@dataclass
class Rounds:
    """What the interleaved rounds measured, per variant label (the base's first)."""

    variants: dict
    target: object  # every user with training items
    epoch_s: dict = field(default_factory=dict)
    eval_s: dict = field(default_factory=dict)
    rates: list = field(default_factory=list)  # matmul flop/s, one per variant per round
    rounds: int = 0

    @property
    def base(self) -> str:
        return next(iter(self.variants))


def all_users_target(variant, device: torch.device):
    """Every user with training items is ranked, not only those with validation items; the
    metrics of users without any are 0/0 and not used here."""
    from benchmark.core.interactions import train_matrix
    from benchmark.runner.training.evaluation import RankingTarget

    counts = np.diff(train_matrix(variant.train_set).indptr)
    return RankingTarget("all users", torch.as_tensor(np.flatnonzero(counts)).to(device), variant.valid.truth,
                         variant.valid.mask, counts[counts > 0])


def interleaved_rounds(args, device: torch.device, source: str, deadline: float) -> Rounds:
    """Round 0 warms up; then each variant's epoch and evaluation in turn, until --repeats or the deadline."""
    variants = {variant_label(BASE, m): build_variant(variant_config(BASE, args.dataset, m), device) for m in MATCHERS}
    base = next(iter(variants.values()))
    measured = Rounds(variants, all_users_target(base, device), {k: [] for k in variants}, {k: [] for k in variants})
    hidden, batch = int(base.recbole_config["hidden_size"]), int(base.recbole_config["train_batch_size"])
    print(f"epoch stage: {source}: {base.train_set.user_num - 1} users, {base.train_set.item_num - 1} items, "
          f"{int(measured.target.n_train.sum())} training interactions; device {device_name(device)}; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    for round_ in range(args.repeats + 1):
        for label, variant in variants.items():
            rate = matmul_rate(batch, hidden, base.train_set.item_num, device)
            seconds = timed_epoch(variant.trainer, variant.loader, round_, device)
            eval_seconds = timed_evaluation(variant.model, measured.target, base.recbole_config, device)
            if round_:
                measured.rates.append(rate)
                measured.epoch_s[label].append(seconds)
                measured.eval_s[label].append(eval_seconds)
        if round_:
            measured.rounds = round_
            print(f"  round {round_}: " + "  ".join(f"{k} {measured.epoch_s[k][-1]:.3f}/{measured.eval_s[k][-1]:.3f}s"
                                                   for k in variants) + " (epoch/eval)", flush=True)
            if time.monotonic() > deadline:
                break
    return measured


def epoch_rows(measured: Rounds, floor: float, device: torch.device) -> list[dict]:
    median, rows = statistics.median, []
    config = measured.variants[measured.base].recbole_config
    for label, variant in measured.variants.items():
        epochs, evals = measured.epoch_s[label], measured.eval_s[label]
        ratio = median([mine / base for mine, base in zip(epochs, measured.epoch_s[measured.base], strict=True)])
        rows.append({
            "model": label, "epoch_s": median(epochs), "best_epoch_s": min(epochs), "vs_base": ratio,
            "floor_s": floor, "beyond_floor_s": median(epochs) - floor, "vs_floor": median(epochs) / floor,
            "eval_s": median(evals), "best_eval_s": min(evals), "steps": len(variant.loader),
            "syncs_epoch": host_syncs(lambda v=variant: v.trainer._train_epoch(v.loader, measured.rounds + 1), device),
            "syncs_eval": host_syncs(lambda v=variant: timed_evaluation(v.model, measured.target, config, device),
                                     device),
        })
    return rows


def sync_only_rows(args, device: torch.device, deadline: float) -> list[dict]:
    """Host syncs of the other generative bases (on CUDA only: elsewhere there is nothing to count)."""
    rows = []
    for model in SYNC_ONLY_MODELS if device.type == "cuda" else ():
        if time.monotonic() > deadline:
            break
        other = build_variant(variant_config(model, args.dataset), device)
        other.trainer._train_epoch(other.loader, 0)  # warm-up
        rows.append({
            "model": variant_label(model, "none"), "steps": len(other.loader),
            "syncs_epoch": host_syncs(lambda o=other: o.trainer._train_epoch(o.loader, 1), device),
            "syncs_eval": host_syncs(lambda o=other: timed_evaluation(o.model, o.valid, o.recbole_config, device),
                                     device),
        })
    return rows


def epoch_stage(args, device: torch.device, source: str) -> Table:
    """The interleaved Mult-VAE / DMRec-G/C/M table."""
    deadline = time.monotonic() + args.time_limit
    measured = interleaved_rounds(args, device, source, deadline)
    base = measured.variants[measured.base]
    n_users, n_items = base.train_set.user_num - 1, base.train_set.item_num
    hidden, batch = int(base.recbole_config["hidden_size"]), int(base.recbole_config["train_batch_size"])
    rate = statistics.median(measured.rates)
    floor = 3 * 2 * n_users * hidden * n_items / rate
    table = Table("epoch", f"Epoch and evaluation seconds, Mult-VAE and DMRec ({device_name(device)})", COLUMNS)
    table.rows += epoch_rows(measured, floor, device) + sync_only_rows(args, device, deadline)
    table.notes += [
        f"data: {source}; {n_users} users, {n_items - 1} items; device {device_name(device)}, "
        f"torch threads {torch.get_num_threads()}",
        f"{measured.rounds} counted round(s) after a warm-up"
        + (" (stopped by --time-limit)" if measured.rounds < args.repeats else "")
        + "; medians; 'best' is the least disturbed round; vs_base is the median of same-round ratios",
        f"epoch: one pass over the training users, batches of {batch}, Adam step included; eval: full ranking "
        f"of {len(measured.target.users)} users",
        f"floor: 3 x 2 x {n_users} x {hidden} x {n_items} flop at the measured matmul rate on the "
        f"decoder's shapes, median {rate / 1e9:.1f} GFLOP/s (best {max(measured.rates) / 1e9:.1f})",
        "syncs: host waits for the device in one more epoch (of `steps` steps) and one evaluation, counted by "
        "torch.cuda.set_sync_debug_mode; '-' on the CPU",
    ]
    return table
