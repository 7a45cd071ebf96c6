"""Trial groups: trials that differ only in their seed, trained together as one batched model.

    form_groups(trials, K)   siblings (resolved configs equal but for `seed`, same dataset version),
                             sorted by seed, chunked into groups of at most K; in the grid's order
    shard_groups(...)        `--shard` over whole groups, by the id of each group's first member

Groups are formed from the whole narrowed grid, before sharding and before what is stored is dropped,
so a group does not depend on when or where it runs; its finished members are left out at run time
(`TrialGroup.keep`, and `benchmark.runner.execute.run_group_and_store` under the claims). With K = 1
every trial is its own group, in the grid's order: the runner of single trials, shards included.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from benchmark.runner.grid import Trial

GPU_GROUP_SIZE = 10  # the default K when trials train on a GPU, where a small trial is launch-bound
CPU_GROUP_SIZE = 1  # on CPUs a batch of seeds gains little: one trial at a time, as always


@dataclass(frozen=True)
class TrialGroup:
    """Sibling trials trained together, sorted by seed. Its id is its first member's trial id."""

    trials: tuple[Trial, ...]

    @property
    def group_id(self) -> str | None:
        return self.trials[0].trial_id

    @property
    def prepared(self) -> bool:
        return self.trials[0].prepared  # siblings share the dataset version

    @property
    def trial_ids(self) -> list[str | None]:
        return [t.trial_id for t in self.trials]

    def keep(self, trial_ids: set[str]) -> TrialGroup | None:
        """The members whose id is in `trial_ids` (the ones still to run); None when no member is."""
        kept = tuple(t for t in self.trials if t.trial_id in trial_ids)
        return TrialGroup(kept) if kept else None


def sibling_key(trial: Trial) -> str:
    """What siblings share: the resolved config without its seed, and the dataset version."""
    config = trial.config
    config.pop("seed", None)
    return json.dumps([config, trial.dataset_version], sort_keys=True)


def form_groups(trials: Iterable[Trial], size: int) -> list[TrialGroup]:
    """The trials in groups of at most `size` siblings, each sorted by seed. Groups come in the order
    of their earliest member in `trials`, so `size=1` keeps the trials' own order."""
    if size < 1:
        raise ValueError(f"a group holds at least one trial, got size {size}")
    siblings: dict[str, list[tuple[int, Trial]]] = {}
    for position, trial in enumerate(trials):
        siblings.setdefault(sibling_key(trial), []).append((position, trial))
    chunks = []
    for found in siblings.values():
        found.sort(key=lambda pair: pair[1].seed)
        chunks += [found[i:i + size] for i in range(0, len(found), size)]
    chunks.sort(key=lambda chunk: min(position for position, _ in chunk))
    return [TrialGroup(tuple(trial for _, trial in chunk)) for chunk in chunks]


def shard_groups(groups: list[TrialGroup], index: int, count: int) -> list[TrialGroup]:
    """The groups of part `index` (1..count) of `count`: a whole group goes to the part of its first
    member's id, so with one trial per group this is `benchmark.runner.grid.shard`."""
    return [g for g in groups if g.group_id is not None and int(g.group_id, 16) % count == index - 1]


def members(groups: Iterable[TrialGroup]) -> list[Trial]:
    """Every trial of the groups, group by group."""
    return [t for g in groups for t in g.trials]


def remaining(groups: Iterable[TrialGroup], trial_ids: set[str]) -> list[TrialGroup]:
    """The groups cut down to their members in `trial_ids`; emptied groups are dropped."""
    return [kept for kept in (g.keep(trial_ids) for g in groups) if kept is not None]


def default_group_size(no_ray: bool, gpus_per_trial: float, sharded: bool,
                       cuda_available: Callable[[], bool]) -> int:
    """K when --group-size is not given: `GPU_GROUP_SIZE` when the trials train on a GPU (under Ray:
    --gpus-per-trial above 0; with --no-ray: this machine has CUDA), else `CPU_GROUP_SIZE`. With
    --shard always `CPU_GROUP_SIZE`: every shard of a run must form the same groups, whatever machine
    it lands on. `cuda_available` is only asked when the answer depends on it (it imports torch)."""
    if sharded:
        return CPU_GROUP_SIZE
    on_gpu = cuda_available() if no_ray else gpus_per_trial > 0
    return GPU_GROUP_SIZE if on_gpu else CPU_GROUP_SIZE


def members_at_once(groups: list[TrialGroup]) -> float:
    """Trials trained at once by one group, on average (the progress view's ETA scales by it)."""
    return sum(len(g.trials) for g in groups) / len(groups) if groups else 1.0
