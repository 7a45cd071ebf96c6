"""`ProtocolTrainer`: RecBole's Trainer interface (`fit`, `evaluate`) running the suite's protocol.

RecBole's own `Trainer` saves the whole Config in a pickle at every improvement, writes
tensorboard folders into the working directory and validates every epoch by default. This
trainer keeps RecBole's contract (a model's `calculate_loss` / `full_sort_predict`, the Config)
and implements the paper's protocol: validate every `eval_step` epochs on Recall@20, stop after
`stopping_step` validations without improvement, keep the best weights in memory and test them.
"""
from __future__ import annotations

import copy
import math
import time

import torch
from recbole.trainer.trainer import AbstractTrainer

from benchmark.training.evaluation import RankingTarget, evaluate_full_ranking


class NonFiniteLoss(FloatingPointError):
    """Training produced a NaN/inf loss; the trial fails with this error rather than going on."""


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class ProtocolTrainer(AbstractTrainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        learner = str(config["learner"]).lower()
        if learner not in OPTIMIZERS:
            raise ValueError(f"learner '{learner}' is not one of {sorted(OPTIMIZERS)}")
        # fused Adam/AdamW: one kernel for all parameters, ~10x faster steps on CPU than the default loop
        fused = {"fused": True} if learner in ("adam", "adamw") else {}
        self.optimizer = OPTIMIZERS[learner](
            model.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"] or 0.0, **fused
        )
        self.epochs = int(config["epochs"])
        self.eval_step = int(config["eval_step"])
        self.stopping_step = int(config["stopping_step"])
        self.valid_metric = str(config["valid_metric"]).lower()
        self.topk = tuple(config["topk"])
        self.eval_batch_size = int(config["eval_batch_size"])
        self.clip_grad_norm = config["clip_grad_norm"]
        self.curve: list[dict] = []  # one row per validation
        self.best_epoch = -1
        self.best_valid_score = -math.inf
        self.best_valid_result = None
        self.best_state = None
        self.train_seconds = 0.0
        self.valid_seconds = 0.0
        self.epochs_run = 0

    def _train_epoch(self, train_data, epoch_idx: int) -> float:
        self.model.train()
        total = 0.0
        for interaction in train_data:
            interaction = interaction.to(self.model.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.calculate_loss(interaction)
            if isinstance(loss, tuple):
                loss = sum(loss)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"{type(self.model).__name__}: loss is {loss.item()} at epoch {epoch_idx}")
            loss.backward()
            if self.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.clip_grad_norm))
            self.optimizer.step()
            total += float(loss.detach())
        return total

    def fit(self, train_data, valid_data: RankingTarget, verbose: bool = False, saved: bool = True,
            show_progress: bool = False, callback_fn=None):
        """Train until early stopping; returns (best validation score, best validation metrics)."""
        since_best = 0
        start = time.perf_counter()
        for epoch in range(self.epochs):
            tick = time.perf_counter()
            if hasattr(self.model, "on_epoch_start"):
                self.model.on_epoch_start(epoch)
            loss = self._train_epoch(train_data, epoch)
            self.train_seconds += time.perf_counter() - tick
            self.epochs_run = epoch + 1
            if (epoch + 1) % self.eval_step:
                continue
            tick = time.perf_counter()
            result, _ = evaluate_full_ranking(self.model, valid_data, self.topk, self.eval_batch_size)
            self.valid_seconds += time.perf_counter() - tick
            score = result[self.valid_metric]
            self.curve.append({
                "epoch": epoch + 1, "time_s": time.perf_counter() - start, "train_loss": loss,
                **{k: v for k, v in result.items() if k.endswith("@20")},
            })
            if verbose:
                print(f"  epoch {epoch + 1:4d}  loss {loss:.4f}  valid {self.valid_metric} {score:.4f}", flush=True)
            if score > self.best_valid_score:
                self.best_valid_score, self.best_valid_result, self.best_epoch = score, result, epoch + 1
                if saved:
                    self.best_state = copy.deepcopy(self.model.state_dict())
                since_best = 0
            else:
                since_best += 1
            if callback_fn is not None:
                callback_fn(epoch, score)
            if since_best >= self.stopping_step:
                break
        return self.best_valid_score, self.best_valid_result

    @torch.no_grad()
    def evaluate(self, eval_data: RankingTarget, load_best_model: bool = True, model_file=None,
                 show_progress: bool = False):
        """Mean metrics on `eval_data` (the per-user values are kept in `self.last_per_user`)."""
        if load_best_model and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        means, self.last_per_user = evaluate_full_ranking(self.model, eval_data, self.topk, self.eval_batch_size)
        return means
