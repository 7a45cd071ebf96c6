"""Speed of DMRec against its base, measured in one run on one machine.

    python -m benchmark.perf [--dataset amazon-standin] [--repeats 5] [--synthetic]

For Mult-VAE and DMRec-G/C/M on it (released formulation), prints the seconds of one training
epoch (the suite's trainer: batches of 1,024 users, Adam step included) and of one full-ranking
evaluation of every user with training items, each the median over `--repeats` rounds in which the models
take turns (so a burst of load from other processes hits all of them alike). It also measures the
machine's matmul rate on the decoder's own product shapes and the floor those products set for
an epoch: 3 products (forward, input gradient, weight gradient) of 2 x U x 600 x N flops each.

`--synthetic` builds, in a temporary data root, a random dataset of the chosen dataset's size
(Amazon-Book's by default: 11,000 users, 9,332 items, 200,860 interactions, 1536-d text vectors),
for machines where the real one is not prepared; say so when quoting its numbers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import scipy.sparse as sp
import torch

AMAZON_SHAPE = {"n_users": 11000, "n_items": 9332, "n_interactions": 200860, "text_dim": 1536}
VARIANTS = (("Mult-VAE", "none"), ("DMRec-G", "godm"), ("DMRec-C", "cpdm"), ("DMRec-M", "mddm"))


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


def matmul_rate(batch: int, hidden: int, n_items: int, repeats: int = 5) -> float:
    """Flop/s of the decoder's three products at the training batch size (median of repeats)."""
    h, w, g = torch.randn(batch, hidden), torch.randn(n_items, hidden), torch.randn(batch, n_items)
    flops = 3 * 2 * batch * hidden * n_items
    timings = []
    for _ in range(repeats + 1):
        tick = time.perf_counter()
        h @ w.T       # forward logits (B, N)
        g @ w         # input gradient (B, 600)
        g.T @ h       # weight gradient (N, 600)
        timings.append(time.perf_counter() - tick)
    return flops / statistics.median(timings[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.perf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="amazon-standin", help="prepared dataset with text vectors")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each times every model once")
    parser.add_argument("--synthetic", action="store_true", help="time a random dataset of Amazon-Book's size instead")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.synthetic:
        return measure(args)
    from benchmark.data.prepared import write_prepared

    with tempfile.TemporaryDirectory(prefix="dmrec-perf-") as root:
        os.environ["DMREC_DATA"] = root
        write_prepared(synthetic_dataset(args.dataset, **AMAZON_SHAPE), root=os.path.join(root, "prepared"))
        return measure(args)


def measure(args) -> int:

    from benchmark.config import resolve
    from benchmark.training.evaluation import RankingTarget, evaluate_full_ranking
    from benchmark.training.interactions import train_matrix
    from benchmark.training.loaders import make_train_loader
    from benchmark.training.trainer import ProtocolTrainer
    from benchmark.trial import build_recbole

    config = resolve("multvae", args.dataset, {"use_gpu": False})
    recbole_config, cls, (train_set, valid_set, _) = build_recbole(config)
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    # every user with training items is ranked (11,000 on Amazon-Book), not only those with
    # validation items; the metrics of users without any are 0/0 and not used here
    counts = np.diff(train_matrix(train_set).indptr)
    target = RankingTarget("all users", torch.as_tensor(np.flatnonzero(counts)), valid.truth, valid.mask,
                           counts[counts > 0])
    models, trainers, loaders = {}, {}, {}
    for label, matcher in VARIANTS:
        recbole_config["matcher"] = matcher
        torch.manual_seed(0)
        models[label] = cls(recbole_config, train_set)
        trainers[label] = ProtocolTrainer(recbole_config, models[label])
        loaders[label] = make_train_loader(models[label], train_set, recbole_config, torch.Generator().manual_seed(0))
    n_users, n_items = train_set.user_num - 1, train_set.item_num - 1
    hidden = int(recbole_config["hidden_size"])
    batch = int(recbole_config["train_batch_size"])
    print(f"dataset {args.dataset}{' (synthetic)' if args.synthetic else ''}: {n_users} users, {n_items} items, "
          f"{int(counts.sum())} training interactions; {len(target.users)} users evaluated; "
          f"torch threads {torch.get_num_threads()}; {args.repeats} rounds, medians", flush=True)

    epoch_s = {label: [] for label in models}
    eval_s = {label: [] for label in models}
    rates = []
    flops = 3 * 2 * n_users * hidden * train_set.item_num
    for round_ in range(args.repeats + 1):  # round 0 warms up and is not counted
        for label, model in models.items():
            rate = matmul_rate(batch, hidden, train_set.item_num)
            tick = time.perf_counter()
            trainers[label]._train_epoch(loaders[label], round_)
            seconds = time.perf_counter() - tick
            tick = time.perf_counter()
            evaluate_full_ranking(model, target, tuple(recbole_config["topk"]), int(recbole_config["eval_batch_size"]))
            eval_seconds = time.perf_counter() - tick
            model.train()
            if round_:
                rates.append(rate)
                epoch_s[label].append(seconds)
                eval_s[label].append(eval_seconds)
        if round_:
            print(f"  round {round_}: " + "  ".join(f"{k} {epoch_s[k][-1]:.2f}/{eval_s[k][-1]:.2f}s" for k in models)
                  + f"  (epoch/eval; matmul {statistics.median(rates[-len(models):]) / 1e9:.0f} GFLOP/s)", flush=True)

    median = statistics.median
    rate = median(rates)
    floor = flops / rate
    print(f"\nmatmul rate on the decoder's product shapes (batch {batch}): median {rate / 1e9:.1f}, "
          f"best {max(rates) / 1e9:.1f} GFLOP/s")
    print(f"decoder floor per epoch, 3 x 2 x {n_users} x {hidden} x {train_set.item_num} flop / rate: "
          f"{floor:.2f} s at the median rate, {flops / max(rates):.2f} s at the best\n")
    print(f"{'model':<10} {'epoch s':>8} {'(best)':>7} {'vs base':>8} {'vs floor':>9} {'eval s':>7} {'(best)':>7}")
    for label in models:
        ratio = median([mine / base for mine, base in zip(epoch_s[label], epoch_s["Mult-VAE"])])  # same round
        print(f"{label:<10} {median(epoch_s[label]):8.2f} {min(epoch_s[label]):7.2f} {ratio:8.3f} "
              f"{median(epoch_s[label]) / floor:9.3f} {median(eval_s[label]):7.2f} {min(eval_s[label]):7.2f}")
    print("\nepoch: one pass over the training users (batches of "
          f"{batch}, Adam step included); eval: full ranking of {len(target.users)} users; 'vs base' is the "
          "median over rounds of the same round's ratio; medians of interleaved rounds, 'best' the least disturbed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
