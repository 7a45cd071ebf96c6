"""A grid's cells: the unit that gets one equal search budget.

A cell is a (dataset, model, matcher) of the grid after the command line's narrowing. Its base
config is the cell's first trial in the grid's order (its block's params, preset and caps, e.g.
the default grid's 21-epoch cap for the LightGCN baselines, and the grid's first seed); a sampled
config is that base with the sampled values layered on top, resolved and checked like any trial.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.runner.config import Layer, beta_for, resolve
from benchmark.runner.grid import Grid, Narrowing, expand, trial_id_of
from benchmark.runner.training.trainer import validation_epochs
from benchmark.tuning.space import SearchRange, search_space

SEARCH_SUFFIX, TUNED_SUFFIX = "_search", "_tuned"  # the stores of a grid's samples and of its tuned runs


@dataclass(frozen=True)
class Cell:
    dataset: str
    model: str
    matcher: str  # "none" for a model without a matcher
    base: dict  # the resolved config of the cell's first trial
    dataset_version: str
    block: str
    seeds: tuple[int, ...] = ()  # the cell's seeds in the grid: what its tuned config runs with by default

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.model}/{self.matcher}"

    def space(self) -> dict[str, SearchRange]:
        """The model's search space; beta only where the cell's matcher weighs a matching loss."""
        space = search_space(self.model)
        if "beta" in space and beta_for(self.matcher, self.dataset, 0.0) is None:
            space.pop("beta")  # the matcher weighs no matching loss: beta changes nothing
        return space

    def sampled_config(self, sampled: dict) -> dict:
        """The full resolved config of the base with `sampled` values on top (ConfigError if invalid)."""
        base = {k: v for k, v in self.base.items() if k not in ("model", "dataset")}
        return resolve(self.model, self.dataset, Layer(base, f"grid cell {self.key}"),
                       Layer(sampled, f"search sample of {self.key}"))

    def sample_id(self, config: dict) -> str:
        return trial_id_of(config, self.dataset_version)

    def max_validations(self) -> int:
        """How many validations a sample can report (ASHA's max_t), from the base's epochs and schedule."""
        base = self.base
        return max(1, len(validation_epochs(base["epochs"], base["eval_step"], base["first_eval_epoch"])))


def grid_cells(grid: Grid, narrowing: Narrowing) -> list[Cell]:
    """The cells of `grid` after `narrowing` (seeds ignored), in the grid's order."""
    narrowing = Narrowing(narrowing.datasets, narrowing.models, narrowing.matchers, None, dict(narrowing.params))
    firsts, seeds = {}, {}
    for trial in expand(grid, narrowing):
        key = (trial.dataset, trial.model, trial.matcher)
        firsts.setdefault(key, trial)
        seeds.setdefault(key, {})[trial.seed] = None
    return [Cell(*key, base=trial.config, dataset_version=trial.dataset_version, block=trial.block,
                 seeds=tuple(seeds[key])) for key, trial in firsts.items()]
