"""`ProtocolTrainer`: RecBole's Trainer interface (`fit`, `evaluate`) running the suite's protocol.

RecBole's own `Trainer` saves the whole Config in a pickle at every improvement, writes
tensorboard folders into the working directory and validates every epoch by default. This
trainer keeps RecBole's contract (a model's `calculate_loss` / `full_sort_predict`, the Config)
and implements the paper's protocol: validate after epochs first, first + eval_step, ... on
Recall@20 (first = `first_eval_epoch`, or `eval_step` when unset), stop after `stopping_step`
validations without improvement, keep the best weights in memory and test them.

Device-agnostic: the loss is summed on the model's device and read once per epoch (one host
sync), which is also where a NaN/inf loss fails the trial with its epoch named.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
from recbole.trainer.trainer import AbstractTrainer

from benchmark.runner.training.evaluation import RankingTarget, evaluate_full_ranking
from benchmark.runner.training.events import EpochEvent


class NonFiniteLoss(FloatingPointError):
    """Training produced a NaN/inf loss; the trial fails with this error rather than going on."""


class NoValidation(ValueError):
    """The schedule leaves no validation (e.g. `epochs` below the first validation epoch): there
    is no selected model to test, so the trial fails instead of storing an untrained one."""


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def validation_epochs(epochs: int, eval_step: int, first_eval_epoch: int | None = None) -> list[int]:
    """The 1-based epochs after which validation runs: first, first + eval_step, ... <= epochs.

    first = `first_eval_epoch`, or `eval_step` when None (the suite's 3, 6, 9, ...); the released
    DMRec trainer validates after epochs 1, 4, 7, ... (`epoch_idx % 3 == 0` on a 0-based index),
    which is first_eval_epoch 1 with eval_step 3."""
    if eval_step < 1:
        raise ValueError(f"eval_step must be >= 1, not {eval_step}")
    first = eval_step if first_eval_epoch is None else int(first_eval_epoch)
    if first < 1:
        raise ValueError(f"first_eval_epoch must be >= 1 or null, not {first}")
    return list(range(first, max(epochs, 0) + 1, eval_step))


def build_optimizer(config, model) -> torch.optim.Optimizer:
    """The Config's `learner` over the model's `parameter_groups`, at its learning rate and weight decay."""
    learner = str(config["learner"]).lower()
    if learner not in OPTIMIZERS:
        raise ValueError(f"learner '{learner}' is not one of {sorted(OPTIMIZERS)}")
    # fused Adam/AdamW: one kernel for all parameters, ~10x faster steps on CPU than the default loop
    fused = {"fused": True} if learner in ("adam", "adamw") else {}
    return OPTIMIZERS[learner](ProtocolTrainer.parameter_groups(model, config["learning_rate"]),
                               lr=config["learning_rate"], weight_decay=config["weight_decay"] or 0.0, **fused)


class ProtocolTrainer(AbstractTrainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        self.optimizer = build_optimizer(config, model)
        self.epochs = int(config["epochs"])
        self.eval_step = int(config["eval_step"])
        first = config["first_eval_epoch"]  # None when the key is absent or null
        self.first_eval_epoch = self.eval_step if first is None else int(first)
        self.stopping_step = int(config["stopping_step"])
        self.valid_metric = str(config["valid_metric"]).lower()
        self.topk = tuple(config["topk"])
        self.eval_batch_size = int(config["eval_batch_size"])
        self.clip_grad_norm = config["clip_grad_norm"]
        self.curve: list[dict] = []  # one row per validation
        self.epoch_seconds: list[float] = []  # training seconds of each epoch (device synchronised)
        self.best_epoch = -1
        self.best_valid_score = -math.inf
        self.best_valid_result = None
        self.best_state = None
        self.train_seconds = 0.0
        self.valid_seconds = 0.0
        self.epochs_run = 0
        self.last_per_user = None
        self._device_targets: dict[int, tuple[RankingTarget, RankingTarget]] = {}

    @staticmethod
    def parameter_groups(model, learning_rate: float):
        """The optimizer's parameter groups: the model's `optimizer_groups(learning_rate)` when it
        has one (L-DiffRec's denoiser at its own rate: one optimizer with two groups does what
        DiffRec's two AdamWs do, parameter by parameter), else all its parameters at one rate."""
        if hasattr(model, "optimizer_groups"):
            return model.optimizer_groups(learning_rate)
        return model.parameters()

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (RecBole's `model.device` for a model without any)."""
        parameter = next(self.model.parameters(), None)
        return parameter.device if parameter is not None else torch.device(self.model.device)

    def schedule(self) -> list[int]:
        """The epochs after which validation runs; fails when there is none."""
        epochs = validation_epochs(self.epochs, self.eval_step, self.first_eval_epoch)
        if not epochs:
            raise NoValidation(f"no validation ran: epochs={self.epochs} but the first validation is after "
                               f"epoch {self.first_eval_epoch}")
        return epochs

    def _on_device(self, target: RankingTarget) -> RankingTarget:
        """`target` with its users, truth and mask on the model's device (copied once, cached;
        the caller's target stays where it was)."""
        cached = self._device_targets.get(id(target))
        if cached is None or cached[0] is not target:
            cached = self._device_targets[id(target)] = (target, target.to(self.device))
        return cached[1]

    def _train_epoch(self, train_data, epoch_idx: int) -> float:
        """One pass over `train_data`; returns the summed loss (read from the device once)."""
        self.model.train()
        device = self.device
        total = torch.zeros((), dtype=torch.float64, device=device)
        # a loader's `epoch(device)` places its batches itself (their entry counts stay on the host)
        batches = train_data.epoch(device) if hasattr(train_data, "epoch") else (b.to(device) for b in train_data)
        for interaction in batches:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.calculate_loss(interaction)
            if isinstance(loss, tuple):
                loss = sum(loss)
            loss.backward()
            if self.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.clip_grad_norm))
            self.optimizer.step()
            total += loss.detach().double()  # float64, as the host-side float sum it replaces
        total = float(total)  # the epoch's one host sync
        if not math.isfinite(total):
            raise NonFiniteLoss(f"{type(self.model).__name__}: loss is {total} at epoch {epoch_idx + 1}")
        return total

    def fit(self, train_data, valid_data: RankingTarget, verbose: bool = False, saved: bool = True,
            show_progress: bool = False, callback_fn=None, on_epoch: Callable[[EpochEvent], None] | None = None):
        """Train until early stopping; returns (best validation score, best validation metrics).

        `on_epoch`: called after every epoch (and its validation, if one ran) with an `EpochEvent`; it
        only reads, and its time counts in no epoch's seconds. `callback_fn`: RecBole's, after each
        validation with (0-based epoch, score)."""
        schedule = self.schedule()
        validate_after = set(schedule)
        valid_on_device = self._on_device(valid_data)
        since_best = 0
        start = time.perf_counter()
        for epoch in range(self.epochs):
            tick = time.perf_counter()
            if hasattr(self.model, "on_epoch_start"):
                self.model.on_epoch_start(epoch)
            loss = self._train_epoch(train_data, epoch)  # synchronised: the clock below is honest
            self.epoch_seconds.append(time.perf_counter() - tick)
            self.train_seconds += self.epoch_seconds[-1]
            self.epochs_run = epoch + 1
            result = None
            if epoch + 1 in validate_after:
                result = self._validate(valid_on_device, epoch, loss, start, verbose)
                score = result[self.valid_metric]
                if score > self.best_valid_score:
                    self.best_valid_score, self.best_valid_result, self.best_epoch = score, result, epoch + 1
                    if saved:
                        self.best_state = copy.deepcopy(self.model.state_dict())
                    since_best = 0
                else:
                    since_best += 1
                if callback_fn is not None:
                    callback_fn(epoch, score)
            if on_epoch is not None:
                on_epoch(self._epoch_event(epoch + 1, loss, result, time.perf_counter() - start,
                                           self._stop_by(schedule, since_best)))
            if result is not None and since_best >= self.stopping_step:
                break
        if self.best_epoch < 0:
            raise NoValidation(f"no validation ran in {self.epochs_run} epochs (schedule {sorted(validate_after)})")
        return self.best_valid_score, self.best_valid_result

    def _validate(self, valid_on_device: RankingTarget, epoch: int, loss: float, start: float, verbose: bool) -> dict:
        """Validation after 0-based `epoch`: its metrics, appended to the curve (the @20 ones)."""
        tick = time.perf_counter()
        result, _ = evaluate_full_ranking(self.model, valid_on_device, self.topk, self.eval_batch_size,
                                          when=f"validation after epoch {epoch + 1}")
        self.valid_seconds += time.perf_counter() - tick
        self.curve.append({
            "epoch": epoch + 1, "time_s": time.perf_counter() - start, "train_loss": loss,
            **{k: v for k, v in result.items() if k.endswith("@20")},
        })
        if verbose:
            print(f"  epoch {epoch + 1:4d}  loss {loss:.4f}  valid {self.valid_metric} {result[self.valid_metric]:.4f}",
                  flush=True)
        return result

    def _stop_by(self, schedule: list[int], since_best: int) -> int:
        """The epoch training ends at if no later validation improves: `stopping_step` validations
        after the best one (the first validation counts as the best before it ran), else `epochs`."""
        best_index = len(self.curve) - 1 - since_best if self.curve else 0
        stop_index = best_index + self.stopping_step
        return schedule[stop_index] if stop_index < len(schedule) else self.epochs

    def _epoch_event(self, epoch: int, loss: float, result: dict | None, elapsed: float, stop_by: int) -> EpochEvent:
        found = self.best_epoch > 0
        return EpochEvent(
            epoch=epoch, epochs=self.epochs, loss=loss, seconds=self.epoch_seconds[-1], elapsed=elapsed,
            metric=self.valid_metric, valid=None if result is None else float(result[self.valid_metric]),
            best=float(self.best_valid_score) if found else None, best_epoch=self.best_epoch if found else None,
            stop_by=stop_by, valid_metrics={k: float(v) for k, v in (result or {}).items()})

    @torch.no_grad()
    def evaluate(self, eval_data: RankingTarget, load_best_model: bool = True, model_file=None,
                 show_progress: bool = False):
        """Mean metrics on `eval_data` (the per-user values are kept in `self.last_per_user`)."""
        if load_best_model:
            if self.best_epoch < 0:
                raise NoValidation("no validation ran: there is no selected model to test")
            if self.best_state is not None:
                self.model.load_state_dict(self.best_state)
        means, self.last_per_user = evaluate_full_ranking(
            self.model, self._on_device(eval_data), self.topk, self.eval_batch_size,
            when=f"{eval_data.name} of the model of epoch {self.best_epoch}")
        return means
