"""Trials that differ only in their seed, trained as one model: a *group* of members.

`stack_members(models)` turns K solo models of one class and config (each built under its own
seed, so each holds exactly its solo trial's initial weights) into one group model whose
parameters are stacked on a leading member axis: every `nn.Linear` becomes a `StackedLinear`
(one batched matmul for all members), every other parameter a (K, ...) tensor, buffers that differ
between members (or that a module lists in `member_buffers`) too. The model code is written for
both shapes: activations are (B, ...) in a solo model and (K, B, ...) in a group, reductions run
over the last axes, and a group's loss is the (K,) vector of its members' losses. Gradients of its
sum are each member's own, and Adam is elementwise, so each member follows its solo trial.

Random numbers: each member draws from its own stream, the global generators' state its solo
trial would have at that point (`MemberStreams`), in the order its solo trial draws them; model
code draws through `self.draws` (`SOLO_DRAWS` in a solo model: the very calls it always made).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class MemberStreams:
    """Each member's random stream: the CPU generator's state, and the device's when it is a GPU,
    swapped in around each of the member's draws (the draws then are its solo trial's)."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.states: list[tuple] = []

    def _read(self) -> tuple:
        on_gpu = self.device.type == "cuda"
        return torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if on_gpu else None

    def _write(self, state: tuple) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.device)

    def capture(self) -> None:
        """Add a member whose stream is the generators' state now (right after its model was built)."""
        self.states.append(self._read())

    @contextmanager
    def member(self, index: int):
        """Draw as member `index`: its stream in, advanced by what was drawn, the outside's back."""
        outside = self._read()
        self._write(self.states[index])
        try:
            yield
        finally:
            self.states[index] = self._read()
            self._write(outside)

    def keep(self, indices: Sequence[int]) -> None:
        self.states = [self.states[i] for i in indices]

    def __len__(self) -> int:
        return len(self.states)


class SoloDraws:
    """A solo model's draws: `fn` on the whole tensor, from the global generators."""

    def each(self, fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
        return fn(*tensors)

    def each_ragged(self, fn: Callable[[torch.Tensor], torch.Tensor], flat: torch.Tensor,
                    sizes: Sequence[int] | None) -> torch.Tensor:
        return fn(flat)


SOLO_DRAWS = SoloDraws()


class MemberDraws(SoloDraws):
    """A group's draws: `fn` on each member's slice, from that member's stream."""

    def __init__(self, streams: MemberStreams):
        self.streams = streams

    def each(self, fn, *tensors):
        parts = []
        for index in range(len(self.streams)):
            with self.streams.member(index):
                parts.append(fn(*(tensor[index] for tensor in tensors)))
        if isinstance(parts[0], tuple):  # fn gives several tensors: each stacked
            return tuple(torch.stack(column) for column in zip(*parts, strict=True))
        return torch.stack(parts)

    def each_ragged(self, fn, flat, sizes):
        """`flat` holds the members' entries one member after the other, `sizes` of them each."""
        parts = []
        for index, part in enumerate(flat.split(list(sizes))):
            with self.streams.member(index):
                parts.append(fn(part))
        return torch.cat(parts)


class StackedLinear(nn.Module):
    """K members' `nn.Linear(in, out)`: weight (K, out, in), bias (K, out); x (K, B, in) -> (K, B, out)."""

    def __init__(self, layers: Sequence[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))
        self.in_features, self.out_features = layers[0].in_features, layers[0].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class MemberDropout(nn.Module):
    """`nn.Dropout` in a group: each member's slice dropped with that member's stream."""

    def __init__(self, p: float, draws: MemberDraws):
        super().__init__()
        self.p = p
        self.draws = draws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return self.draws.each(lambda part: F.dropout(part, self.p, training=True), x)


def _member_module(modules: Sequence[nn.Module], draws: MemberDraws) -> nn.Module | None:
    """The group's replacement for the members' `modules` (one per member), None to keep descending."""
    first = modules[0]
    stacked = getattr(first, "stacked_for_members", None)  # a module that knows its group form
    if stacked is not None:
        return stacked(modules)
    if type(first) is nn.Linear:
        return StackedLinear(modules)
    if isinstance(first, nn.Dropout):
        return MemberDropout(first.p, draws)
    return None


def _stack_children(group: nn.Module, members: Sequence[nn.Module], draws: MemberDraws, stacked: set[str],
                    prefix: str = "") -> None:
    """Replace, in place, `group`'s children and own tensors by their member-stacked forms."""
    for name, child in list(group.named_children()):
        children = [getattr(member, name) for member in members]
        replacement = _member_module(children, draws)
        if replacement is None:
            _stack_children(child, children, draws, stacked, f"{prefix}{name}.")
        else:
            setattr(group, name, replacement)
            stacked.update(f"{prefix}{name}.{key}" for key, _ in replacement.named_parameters())
            stacked.update(f"{prefix}{name}.{key}" for key, _ in replacement.named_buffers())
    for name, _ in list(group.named_parameters(recurse=False)):
        setattr(group, name, nn.Parameter(torch.stack([getattr(m, name).detach() for m in members])))
        stacked.add(prefix + name)
    declared = set(getattr(group, "member_buffers", ()))
    for name, buffer in list(group.named_buffers(recurse=False)):
        values = [getattr(m, name) for m in members]
        if buffer is not None and (name in declared or any(not torch.equal(values[0], v) for v in values[1:])):
            setattr(group, name, torch.stack(values))
            stacked.add(prefix + name)
    if hasattr(group, "draws"):
        group.draws = draws


def stack_members(models: Sequence[nn.Module], streams: MemberStreams) -> nn.Module:
    """The group model of `models` (same class and config, one per member, in member order);
    `streams` holds each member's random stream. The models themselves are left as they are."""
    if len(models) != len(streams):
        raise ValueError(f"{len(models)} models but {len(streams)} random streams")
    draws = MemberDraws(streams)
    group = copy.deepcopy(models[0])
    stacked: set[str] = set()
    _stack_children(group, models, draws, stacked)
    group.stacked_names = frozenset(stacked)
    group.members = len(models)
    return group


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


@torch.no_grad()
def member_tensors(group: nn.Module, index: int) -> dict[str, torch.Tensor]:
    """Member `index`'s parameters and buffers as its solo model names and shapes them (copies)."""
    return {name: (tensor[index] if name in group.stacked_names else tensor).detach().clone()
            for name, tensor in _tensors(group).items()}


@torch.no_grad()
def load_member(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy a member's `member_tensors` into its solo model."""
    for name, tensor in _tensors(model).items():
        if name in tensors:
            tensor.copy_(tensors[name])


@torch.no_grad()
def keep_members(group: nn.Module, indices: Sequence[int], optimizer: torch.optim.Optimizer | None = None) -> None:
    """Shrink the group to the members at `indices` (in that order): parameters, per-member
    buffers, the optimizer's per-member state and the random streams. The parameters stay the same
    objects, so the optimizer keeps them."""
    index = torch.as_tensor(list(indices), dtype=torch.long)
    old = group.members
    for name, tensor in _tensors(group).items():
        if name not in group.stacked_names:
            continue
        kept = tensor.index_select(0, index.to(tensor.device))
        if isinstance(tensor, nn.Parameter):
            tensor.data = kept
            tensor.grad = None
            state = optimizer.state.get(tensor) if optimizer is not None else None
            for key, value in (state or {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == old:
                    state[key] = value.index_select(0, index.to(value.device))
        else:
            owner, _, leaf = name.rpartition(".")
            setattr(group.get_submodule(owner) if owner else group, leaf, kept)
    group.draws.streams.keep(list(indices))
    group.members = len(index)
