"""MultVAE: a DMRec base model (see the class docstring)."""
from __future__ import annotations

import torch
from torch import nn

from benchmark.core.interactions import batch_entry_count, member_entry_counts
from dmrec.divergences import Gaussian
from dmrec.models.base import GenerativeRecommender, MultinomialHead, UserBatch, init_item_table


class MultVAE(GenerativeRecommender):
    """Mult-VAE (Liang et al., "Variational Autoencoders for Collaborative Filtering", WWW 2018),
    the base of the released DMRec code, with any DMRec matcher attached.

        encoder  x_u (L2-normalised unless `normalize_input: false`, input dropout)
                 -> Linear(N, 600) -> tanh -> Linear(600, 2 x 200)
        decoder  z (200) -> Linear(200, 600) -> tanh -> Linear(600, N) -> multinomial over the N real items

    The first encoder layer is read as a sparse product (an embedding-bag over the user's items), so
    a step costs the decoder's dense products and little else. `matcher: none` is Mult-VAE itself.
    """

    groups = True  # written for a member axis too: (K, B, ...) activations, (K,) losses

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        hidden, self.latent_dim = int(config["hidden_size"]), int(config["latent_dim"])
        self.dropout = float(config["dropout"])
        self.normalize_input = bool(config["normalize_input"])
        self.total_anneal_steps = int(config["total_anneal_steps"])
        self.anneal_cap = float(config["anneal_cap"])
        self.update_count = 0
        # Linear(N, 600) stored as its transpose (N + 1, 600): row i is item i's contribution (row 0 padding).
        self.encoder_items = nn.Parameter(torch.empty(self.n_items, hidden))
        self.encoder_bias = nn.Parameter(torch.zeros(hidden))
        self.encoder_out = nn.Linear(hidden, 2 * self.latent_dim)
        self.decoder_hidden = nn.Sequential(nn.Linear(self.latent_dim, hidden), nn.Tanh())
        self.decoder_out = MultinomialHead(hidden, self.n_items)
        self.build_language_branch(dataset, self.latent_dim, int(config["pmn_hidden_size"]))
        self.initialize_weights()
        init_item_table(self.encoder_items, self.encoder_bias, self.weight_init)

    def collaborative_gaussian(self, batch) -> Gaussian:
        values = batch.values
        if self.normalize_input:  # x_u / ||x_u||_2, then the dropout already in `values`
            values = values * batch.counts.clamp_min(1.0).rsqrt()[batch.rows]
        hidden = torch.tanh(batch.product(self.encoder_items, values) + self.encoder_bias.unsqueeze(-2))  # (B, 600)
        out = self.encoder_out(hidden)  # (B, 2d)
        return Gaussian(out[..., :self.latent_dim], out[..., self.latent_dim:])

    def kl_weight(self) -> float:
        """Liang et al.'s annealing min(cap, step / total) when total_anneal_steps > 0, else cap."""
        if self.total_anneal_steps > 0:
            return min(self.anneal_cap, self.update_count / self.total_anneal_steps)
        return self.anneal_cap

    def loss_terms(self, batch: UserBatch, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, regularizer) of a batch; `noise` (B, d) replaces the reparameterisation's draw."""
        regularizer, gaussian = self.match(self.collaborative_gaussian(batch), batch)
        hidden = self.decoder_hidden(self.sample(gaussian) if noise is None else gaussian.sample(noise))  # (B, 600)
        return self.decoder_out.loss(hidden, batch), regularizer

    def calculate_loss(self, interaction, mask: torch.Tensor | None = None, noise: torch.Tensor | None = None):
        """`mask` (B, n_items) and `noise` (B, d) replace the dropout and reparameterisation draws
        (`user_batch`, `Gaussian.sample`): the reference test feeds the released code's."""
        batch = self.user_batch(interaction[self.USER_ID], self.dropout, mask, batch_entry_count(interaction),
                                member_entry_counts(interaction))
        reconstruction, regularizer = self.loss_terms(batch, noise)
        loss = reconstruction + self.kl_weight() * regularizer
        self.update_count += 1
        return loss

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(self.decoder_hidden(self.prediction_gaussian(users).mean))  # z = mean at prediction
