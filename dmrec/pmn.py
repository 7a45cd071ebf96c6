"""The probabilistic meta-network (PMN): a user's language Gaussian p_varphi(z | s_u).

    g(x_u) = W_I^T x_u + w_u          (d_s,)  the text vectors of the user's items, summed, plus
                                             the user's own text vector
    f_varphi: Linear(d_s, 600) -> Tanh -> Linear(600, 2d)  ->  (mu_varphi, log sigma_varphi^2)

W_I^T x_u is a sparse product over the user's training items (`UserBatch.product`), never a
dense (B, N) @ (N, d_s) matmul. x_u carries the encoder's input dropout, as in the released code,
so the same items are dropped from both branches. The text vectors are fixed inputs: they are
buffers, not parameters, and are not saved with the weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dmrec.divergences import Gaussian


class ProbabilisticMetaNetwork(nn.Module):
    def __init__(self, item_vectors: np.ndarray, user_vectors: np.ndarray, latent_dim: int,
                 hidden_size: int = 600, use_interactions: bool = True):
        super().__init__()
        if item_vectors.shape[1] != user_vectors.shape[1]:
            raise ValueError(f"item text vectors are {item_vectors.shape[1]}-d, user text vectors "
                             f"{user_vectors.shape[1]}-d: the PMN needs one text space")
        dtype = torch.get_default_dtype()  # float32 unless a float64 check asks for more
        self.register_buffer("item_vectors", torch.as_tensor(item_vectors, dtype=dtype), persistent=False)
        self.register_buffer("user_vectors", torch.as_tensor(user_vectors, dtype=dtype), persistent=False)
        self.use_interactions = use_interactions  # False: the "w/o PMN" ablation, g = w_u
        self.latent_dim = latent_dim
        self.mlp = nn.Sequential(nn.Linear(item_vectors.shape[1], hidden_size), nn.Tanh(),
                                 nn.Linear(hidden_size, 2 * latent_dim))

    def language_input(self, batch) -> torch.Tensor:
        """g = W_I^T x_u + w_u, (B, d_s); x_u is the batch's (dropped-out) input."""
        own = self.user_vectors[batch.users]
        if not self.use_interactions:
            return own
        return batch.product(self.item_vectors, batch.values) + own

    def forward(self, batch) -> Gaussian:
        out = self.mlp(self.language_input(batch))  # (B, 2d)
        return Gaussian(out[..., :self.latent_dim], out[..., self.latent_dim:])
