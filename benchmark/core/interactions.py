"""The training interactions as torch tensors, read by rows without densifying the whole matrix."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def train_matrix(dataset) -> sp.csr_matrix:
    """(n_users, n_items) binary CSR of a RecBole (train) dataset, in internal ids (row/col 0 empty)."""
    matrix = dataset.inter_matrix(form="csr").astype(np.float32)
    matrix.data[:] = 1.0
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


ENTRY_COUNT = "entry_count"  # the Interaction field a user-batch loader puts the batch's entry count in


def batch_entry_count(interaction) -> int | None:
    """The entry count a loader attached to a batch of users (a host tensor: reading it is no
    device sync), or None when the batch came without one."""
    count = interaction.interaction.get(ENTRY_COUNT)
    return None if count is None else int(count.sum())


def member_entry_counts(interaction) -> list[int] | None:
    """A group's batch (`dmrec.members`): each member's entry count, as the loader attached them."""
    count = interaction.interaction.get(ENTRY_COUNT)
    return None if count is None else count.reshape(-1).tolist()


class SparseRows:
    """A CSR matrix on a torch device, read a batch of rows at a time.

    `dense(rows)` builds only the (B, N) slab a batch needs; `matmul(rows, W)` computes
    X[rows] @ W as a segment sum over the non-zeros, so the full (B, N) slab is never built.
    """

    def __init__(self, matrix: sp.csr_matrix, device: torch.device | str = "cpu"):
        matrix = matrix.tocsr()
        self.shape = matrix.shape
        self.indptr = torch.as_tensor(matrix.indptr.astype(np.int64), device=device)
        self.indices = torch.as_tensor(matrix.indices.astype(np.int64), device=device)
        self.values = torch.as_tensor(matrix.data.astype(np.float32), device=device)
        self.row_counts = self.indptr[1:] - self.indptr[:-1]
        self.host_row_counts = np.diff(matrix.indptr).astype(np.int64)  # stays on the host, for `entry_count`

    FIELDS = ("indptr", "indices", "values", "row_counts")

    def to(self, device) -> SparseRows:
        """Moves this matrix to `device` (in place)."""
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def copy_to(self, device) -> SparseRows:
        """This matrix on `device`, leaving this one where it is (itself when already there)."""
        if self.indptr.device == torch.device(device):
            return self
        copy = object.__new__(SparseRows)
        copy.shape = self.shape
        copy.host_row_counts = self.host_row_counts
        for name in self.FIELDS:
            setattr(copy, name, getattr(self, name).to(device))
        return copy

    def entry_count(self, host_rows: np.ndarray | torch.Tensor) -> int:
        """The number of stored entries in `host_rows` (ids on the host), counted on the host: the
        size a gather of those rows needs, known without reading the device."""
        return int(self.host_row_counts[np.asarray(host_rows)].sum())

    def _gather(self, rows: torch.Tensor, total: int | None = None):
        """(batch row, column, value) of every stored entry of `rows`. `total` is their entry count
        (`entry_count` of the same rows on the host); without it the count is read from the device,
        one host sync (free on the CPU, a stall of the queue on a GPU)."""
        rows = rows.to(self.indptr.device)
        counts = self.row_counts[rows]  # (B,)
        starts = self.indptr[rows]
        if total is None:
            total = int(counts.sum())
        batch_row = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts, output_size=total)
        offsets = torch.arange(total, device=rows.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts, output_size=total
        )
        positions = torch.repeat_interleave(starts, counts, output_size=total) + offsets
        return batch_row, self.indices[positions], self.values[positions]

    def dense(self, rows: torch.Tensor, total: int | None = None) -> torch.Tensor:
        """(B, N) dense rows (`total`: as in `_gather`)."""
        batch_row, cols, vals = self._gather(rows, total)
        out = torch.zeros(len(rows), self.shape[1], dtype=vals.dtype, device=self.values.device)
        out[batch_row, cols] = vals
        return out

    def matmul(self, rows: torch.Tensor, weight: torch.Tensor, row_values: torch.Tensor | None = None,
               total: int | None = None) -> torch.Tensor:
        """(B, d) = X[rows] @ weight, weight (N, d); `row_values` (B, N) replaces the stored values
        (e.g. after input dropout) and is read only at the non-zeros (`total`: as in `_gather`)."""
        batch_row, cols, vals = self._gather(rows, total)
        if row_values is not None:
            vals = row_values[batch_row, cols]
        out = torch.zeros(len(rows), weight.shape[1], device=weight.device, dtype=weight.dtype)
        return out.index_add_(0, batch_row, weight[cols] * vals.unsqueeze(1))
