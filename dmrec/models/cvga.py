"""CVGA: a DMRec base model (see the class docstring)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.interactions import batch_entry_count
from dmrec.divergences import Gaussian
from dmrec.models.base import GenerativeRecommender, MultinomialHead, UserBatch, init_item_table


class CVGA(GenerativeRecommender):
    """CVGA (Zhang et al., "Revisiting Graph-based Recommender Systems from the Perspective of
    Variational Auto-Encoder", TOIS 2023; BlueGhostYi/ID-GRec), with any DMRec matcher attached.

        encoder  one graph convolution with one-hot item features: the normalised user-item matrix
                 R~ = D_u^-1/2 R D_i^-1/2 times Linear(N, 2d), giving every user's (mu, logvar),
                 with dropout on them (d = 64)
        decoder  z -> Linear(d, N) -> multinomial over items

    Each training step encodes the whole graph (a sparse product) and decodes only the batch's users.
    `formulation: released` keeps the ID-GRec code's two quirks: the KL term is scaled by 1/B on top
    of its mean over the batch, and prediction decodes a *sample* of the Gaussian. `paper` uses the
    plainly averaged KL and the Gaussian's mean. With a matcher, the matcher's regularizer takes the
    KL's place (scaled the same way) and the PMN reads the undropped x_u (CVGA has no input dropout).
    """

    groups = True  # written for a member axis too: (K, B, ...) activations, (K,) losses

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.latent_dim = int(config["embedding_size"])
        self.dropout = float(config["dropout"])
        # Linear(N, 2d) stored as its transpose (N + 1, 2d; row 0 padding), read through R~ as a sparse product.
        self.encoder_items = nn.Parameter(torch.empty(self.n_items, 2 * self.latent_dim))
        self.encoder_bias = nn.Parameter(torch.zeros(2 * self.latent_dim))
        self.decoder = MultinomialHead(self.latent_dim, self.n_items)
        self.build_language_branch(dataset, self.latent_dim, int(config["pmn_hidden_size"]))
        self.initialize_weights()
        init_item_table(self.encoder_items, self.encoder_bias, self.weight_init)
        item_degree = self.interactions.values.new_zeros(self.n_items).index_add_(
            0, self.interactions.indices, self.interactions.values)
        self.item_norm = item_degree.clamp_min(1.0).rsqrt()  # D_i^-1/2 (items without edges: unused)
        users = torch.arange(self.n_users, device=self.interactions.indptr.device)
        self.graph = self.user_batch(users)  # every user's row; fixed, no dropout

    def normalized_values(self, batch: UserBatch) -> torch.Tensor:
        """R~ at the batch's entries: 1 / sqrt(deg_u deg_i)."""
        return batch.values * batch.counts.clamp_min(1.0).rsqrt()[batch.rows] * self.item_norm[batch.items]

    def encode(self, batch: UserBatch) -> Gaussian:
        """(mu, logvar) of the batch's users, (B, d) each, with dropout on them in training."""
        out = batch.product(self.encoder_items, self.normalized_values(batch)) + self.encoder_bias.unsqueeze(-2)
        out = self.draws.each(lambda part: F.dropout(part, self.dropout, self.training), out)
        return Gaussian(out[..., :self.latent_dim], out[..., self.latent_dim:])

    def collaborative_gaussian(self, batch: UserBatch) -> Gaussian:
        return self.encode(batch)

    def whole_graph(self) -> UserBatch:
        """Every user's row: the solo model's `graph`, or in a group one copy per member."""
        members = getattr(self, "members", None)
        if members is None:
            return self.graph
        cached = getattr(self, "_member_graph", None)
        if cached is None or cached.users.shape[0] != members:
            cached = self._member_graph = self.user_batch(self.graph.users.expand(members, -1))
        return cached

    def calculate_loss(self, interaction):
        users = interaction[self.USER_ID].to(self.graph.users.device)
        everyone = self.encode(self.whole_graph())  # the whole graph, recomputed every step (n_users, d)
        batch = self.user_batch(users, entries=batch_entry_count(interaction))
        q = Gaussian(self.rows_of(everyone.mean, users), self.rows_of(everyone.logvar, users))
        regularizer, gaussian = self.match(q, batch)
        z = self.sample(gaussian)  # only the batch's users are decoded
        if self.formulation == "released":
            regularizer = regularizer / users.shape[-1]  # ID-GRec: -0.5 / B * mean(sum(...))
        return self.decoder.loss(z, batch) + regularizer

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        gaussian = self.prediction_gaussian(users)
        z = self.sample(gaussian) if self.formulation == "released" else gaussian.mean
        return self.decoder(z)
