"""Trial groups: trials that differ only in their seed, trained as one batched model.

A group holds K members, each a solo trial's model, loader and `ProtocolTrainer` (the trainer keeps
the member's curve, best validation and best weights, and tests it at the end exactly as a solo
trial is tested). One group model (`dmrec.members.stack_members`) trains them all: one forward,
one backward and one optimizer step per batch for the K members, one batched scoring per
validation. A member whose validation stops improving ends there: it is tested from its best
weights (through its solo model, with its own random stream), reported, and dropped from the group,
which trains on with the others. A member whose loss turns NaN fails alone.

A member's clock is its share of the group's: each epoch's and each validation's wall time divided
by the members in it, so the members' seconds add up to the group's.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from recbole.data.interaction import Interaction

from benchmark.core.interactions import ENTRY_COUNT
from benchmark.runner.training.evaluation import RankingTarget, evaluate_members
from benchmark.runner.training.trainer import NonFiniteLoss, ProtocolTrainer, build_optimizer
from dmrec.members import keep_members, load_member, member_tensors


def group_batches(loaders: Sequence, device) -> object:
    """One epoch of a group's batches: the members' own batches (each from its own loader and
    generator, as its solo trial draws them), users stacked (K, B), entry counts (K,)."""
    epochs = [loader.epoch(device) for loader in loaders]
    for batches in zip(*epochs, strict=True):
        first = batches[0]
        uid = next(key for key in first.interaction if key != ENTRY_COUNT)
        yield Interaction({uid: torch.stack([b[uid] for b in batches]),
                           ENTRY_COUNT: torch.cat([b[ENTRY_COUNT] for b in batches])})


@dataclass
class Member:
    """One trial of a group: its index among the group's inputs and its solo trainer (state holder)."""

    index: int
    trainer: ProtocolTrainer
    loader: object
    since_best: int = 0
    outcome: object = field(default=None, repr=False)  # what ended it: None while it trains


class GroupTrainer:
    """Trains a group model's members to their own early stops; see the module docstring."""

    def __init__(self, group, members: list[Member], config):
        self.group = group
        self.members = members  # the ones still training, in the group's member order
        self.solo = members[0].trainer  # the protocol's settings (every member has the same)
        self.optimizer = build_optimizer(config, group)  # Adam is elementwise: each member's slice steps as its own

    def _train_epoch(self, epoch_idx: int) -> torch.Tensor:
        """One pass over every member's batches; (K,) float64 summed losses (one host sync)."""
        self.group.train()
        device = self.solo.device
        total = torch.zeros(len(self.members), dtype=torch.float64, device=device)
        for interaction in group_batches([m.loader for m in self.members], device):
            self.optimizer.zero_grad(set_to_none=True)
            losses = self.group.calculate_loss(interaction)  # (K,)
            losses.sum().backward()  # each member's gradient is its own loss's
            if self.solo.clip_grad_norm:
                clip_member_gradients(self.group, float(self.solo.clip_grad_norm))
            self.optimizer.step()
            total += losses.detach().double()
        return total.cpu()

    def fit(self, valid: RankingTarget, on_epoch: Sequence[Callable | None], on_end: Callable[[Member], None],
            verbose: bool = False) -> None:
        """Train until every member has stopped; `on_end(member)` as each one ends (its `outcome`
        set to None for a finished member, to the exception for a failed one)."""
        solo = self.solo
        schedule = solo.schedule()
        validate_after = set(schedule)
        valid_on_device = solo._on_device(valid)
        start = time.perf_counter()
        for epoch in range(solo.epochs):
            if not self.members:
                return
            tick = time.perf_counter()
            if hasattr(self.group, "on_epoch_start"):
                self.group.on_epoch_start(epoch)
            losses = self._train_epoch(epoch).tolist()
            share = (time.perf_counter() - tick) / len(self.members)
            for member in self.members:
                member.trainer.epoch_seconds.append(share)
                member.trainer.train_seconds += share
                member.trainer.epochs_run = epoch + 1
            results = (self._validate(valid_on_device, epoch, losses, verbose)
                       if epoch + 1 in validate_after else [None] * len(self.members))
            ended = []
            for member, loss, result in zip(self.members, losses, results, strict=True):
                if self._member_epoch(member, epoch, loss, result, time.perf_counter() - start, schedule,
                                      on_epoch[member.index]):
                    ended.append(member)
            self._end(ended, on_end)
        self._end(list(self.members), on_end)

    def _member_epoch(self, member: Member, epoch: int, loss: float, result, elapsed: float, schedule: list[int],
                      on_epoch) -> bool:
        """One epoch's outcome for one member; whether it has ended (stopped early or failed)."""
        trainer = member.trainer
        if not math.isfinite(loss):
            member.outcome = NonFiniteLoss(f"{type(trainer.model).__name__}: loss is {loss} at epoch {epoch + 1}")
            return True
        if isinstance(result, Exception):
            member.outcome = result
            return True
        if result is not None:
            score = result[trainer.valid_metric]
            if score > trainer.best_valid_score:
                trainer.best_valid_score, trainer.best_valid_result, trainer.best_epoch = score, result, epoch + 1
                trainer.best_state = member_tensors(self.group, self.members.index(member))
                member.since_best = 0
            else:
                member.since_best += 1
        if on_epoch is not None:
            stop_by = trainer._stop_by(schedule, member.since_best)
            on_epoch(trainer._epoch_event(epoch + 1, loss, result, elapsed, stop_by))
        return result is not None and member.since_best >= trainer.stopping_step

    def _validate(self, valid: RankingTarget, epoch: int, losses: list[float], verbose: bool) -> list:
        """Every member's validation after 0-based `epoch`, scored in one batched pass: its metrics
        (appended to its curve) or the exception its solo validation would raise."""
        tick = time.perf_counter()
        outcomes = evaluate_members(self.group, valid, self.solo.topk, self.solo.eval_batch_size,
                                    when=f"validation after epoch {epoch + 1}")
        share = (time.perf_counter() - tick) / len(self.members)
        for member, loss, outcome in zip(self.members, losses, outcomes, strict=True):
            trainer = member.trainer
            trainer.valid_seconds += share
            if isinstance(outcome, Exception):
                continue
            trainer.curve.append({  # its clock: its shares of the group's epochs and validations
                "epoch": epoch + 1, "time_s": trainer.train_seconds + trainer.valid_seconds, "train_loss": loss,
                **{k: v for k, v in outcome.items() if k.endswith("@20")}})
            if verbose:
                print(f"  member {member.index} epoch {epoch + 1:4d}  loss {loss:.4f}  valid "
                      f"{member.trainer.valid_metric} {outcome[member.trainer.valid_metric]:.4f}", flush=True)
        return outcomes

    def _end(self, ended: list[Member], on_end: Callable[[Member], None]) -> None:
        """Report the `ended` members (each with its own random stream in place) and drop them."""
        if not ended:
            return
        streams = self.group.draws.streams
        for member in ended:
            with streams.member(self.members.index(member)):
                on_end(member)
        keep = [i for i, member in enumerate(self.members) if member not in ended]
        self.members = [self.members[i] for i in keep]
        if self.members:
            keep_members(self.group, keep, self.optimizer)


def load_best(member: Member) -> None:
    """Put the member's best weights into its solo model (what its solo trial tests)."""
    if member.trainer.best_state is not None:
        load_member(member.trainer.model, member.trainer.best_state)
        member.trainer.best_state = None  # tested from the model itself: `evaluate` must not reload a state dict


@torch.no_grad()
def clip_member_gradients(group, max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_` applied to each member on its own: the norm over all of a
    member's gradients, its slices scaled by min(1, max_norm / (norm + 1e-6))."""
    stacked = [p for name, p in group.named_parameters() if name in group.stacked_names and p.grad is not None]
    norms = torch.stack([p.grad.flatten(1).norm(dim=1) for p in stacked]).norm(dim=0)  # (K,)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in stacked:
        p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))
