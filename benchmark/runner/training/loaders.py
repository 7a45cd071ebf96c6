"""Training batches: users (for autoencoders) or (user, positive, negatives) triples (for BPR).

Both yield RecBole `Interaction`s, so a model's `calculate_loss` reads them as it would RecBole's
own loaders; both draw from one seeded torch generator, so a seed fixes the batch order.

`epoch(device)` is what the trainer iterates: on a GPU the whole epoch's batches are drawn on the
host with the same generator calls as on CPU (so a seed gives the same batches on any device) and
cross to the device in one copy, not one per step.
"""
from __future__ import annotations

import numpy as np
import torch
from recbole.data.interaction import Interaction

from benchmark.core.interactions import ENTRY_COUNT, train_matrix
from benchmark.core.pairs import PairSampler


def to_device(tensor: torch.Tensor, device) -> torch.Tensor:
    """`tensor` (on the host) on `device`; to a GPU through pinned memory without blocking, so an
    epoch's one copy does not make the host wait for the device's queue."""
    if torch.device(device).type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class UserBatchLoader:
    """One epoch = one pass over the users that have training items (RecBole's padding user 0
    never appears), in batches of `batch_size` users: reshuffled every epoch, or with `fixed_order`
    shuffled once and then the same batches every epoch (ID-GRec's CVGA loop).

    Each batch carries its entry count (`ENTRY_COUNT`, a host tensor counted from the host's copy of
    the users): the model's gather of the batch's rows needs that size, and reading it from the
    device would stall a GPU once per step."""

    def __init__(self, dataset, batch_size: int, generator: torch.Generator, shuffle: bool = True,
                 fixed_order: bool = False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.generator = generator
        self.shuffle = shuffle
        self.fixed_order = fixed_order
        self.counts = np.diff(train_matrix(dataset).indptr).astype(np.int64)
        self.users = torch.as_tensor(np.flatnonzero(self.counts), dtype=torch.long)
        self.uid_field = dataset.uid_field
        self._order: torch.Tensor | None = None  # the one order of a fixed-order loader, drawn at its first epoch

    def __len__(self) -> int:
        return (len(self.users) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        return self.epoch("cpu")

    def _epoch_order(self) -> torch.Tensor:
        """This epoch's users in batch order (one generator draw per shuffled epoch)."""
        if not self.shuffle:
            return self.users
        if self.fixed_order:
            if self._order is None:
                self._order = self.users[torch.randperm(len(self.users), generator=self.generator)]
            return self._order
        return self.users[torch.randperm(len(self.users), generator=self.generator)]

    def epoch(self, device="cpu"):
        """One epoch of batches, users on `device` (one host-to-device copy), entry counts on the host."""
        host_users = self._epoch_order()
        users = to_device(host_users, device)
        entries = self.counts[host_users.numpy()]
        for start in range(0, len(users), self.batch_size):
            stop = start + self.batch_size
            yield Interaction({self.uid_field: users[start:stop],
                               ENTRY_COUNT: torch.tensor([int(entries[start:stop].sum())])})


class PairBatchLoader:
    """BPR batches of (user, positive, negatives) as RecBole `Interaction`s, drawn by the one pair
    sampler (`benchmark.core.pairs.PairSampler`: shuffled training pairs, unseen negatives)."""

    def __init__(self, dataset, batch_size: int, generator: torch.Generator, num_negatives: int = 1,
                 neg_field: str | None = None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = PairSampler(train_matrix(dataset), generator, num_negatives, name=dataset.dataset_name)
        self.num_negatives = num_negatives
        self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
        self.neg_field = neg_field or dataset.config["NEG_PREFIX"] + self.iid_field

    @property
    def seen_bits(self) -> torch.Tensor:
        return self.sampler.seen_bits

    def __len__(self) -> int:
        return self.sampler.batch_count(self.batch_size)

    def _host_batches(self):
        """(users, items, negatives) of each batch, drawn on the host in the one order a seed fixes."""
        return self.sampler.batches(self.batch_size)

    def _interaction(self, users, items, negatives) -> Interaction:
        return Interaction({
            self.uid_field: users,
            self.iid_field: items,
            self.neg_field: negatives.squeeze(1) if self.num_negatives == 1 else negatives,
        })

    def __iter__(self):
        return self.epoch("cpu")

    def epoch(self, device="cpu", one_copy: bool | None = None):
        """One epoch of batches on `device`. With `one_copy` (the default off the CPU) the epoch's
        batches are drawn first and cross in one (pairs, 2 + negatives) copy; on the CPU they are
        streamed. Either way the generator is called in the same order: the same batches."""
        if one_copy is None:
            one_copy = torch.device(device).type != "cpu"
        if not one_copy:
            for users, items, negatives in self._host_batches():
                yield self._interaction(users, items, negatives)
            return
        sizes, parts = [], []
        for users, items, negatives in self._host_batches():
            sizes.append(len(users))
            parts.append(torch.cat([users.unsqueeze(1), items.unsqueeze(1), negatives], dim=1))
        if not parts:
            return
        table = to_device(torch.cat(parts), device)  # (pairs, 2 + num_negatives)
        for chunk in torch.split(table, sizes):
            yield self._interaction(chunk[:, 0].contiguous(), chunk[:, 1].contiguous(), chunk[:, 2:].contiguous())


def make_train_loader(model, dataset, config, generator: torch.Generator):
    """The loader a model asks for through its `batch_unit` ("users" or "pairs")."""
    unit = getattr(model, "batch_unit", None)
    if unit == "users":
        return UserBatchLoader(dataset, config["train_batch_size"], generator,
                               fixed_order=config["batch_order"] == "fixed")  # a model key (cvga.yaml)
    if unit == "pairs":
        return PairBatchLoader(dataset, config["train_batch_size"], generator,
                               num_negatives=getattr(model, "num_negatives", 1), neg_field=model.NEG_ITEM_ID)
    raise ValueError(f"{type(model).__name__}.batch_unit must be 'users' or 'pairs', not {unit!r}")
