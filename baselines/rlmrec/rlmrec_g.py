"""RLMRec-G: LightGCN trained on a masked node table whose masked nodes must regenerate their profiles."""
from __future__ import annotations

import torch
from torch import nn

from baselines.lightgcn.lightgcn import LightGCN
from baselines.losses import paired_infonce
from baselines.rlmrec.rlmrec_c import profile_mlp


class RLMRecG(LightGCN):
    """RLMRec-Gen (Ren et al., "Representation Learning with Large Language Models for
    Recommendation", WWW 2024), on LightGCN.

    Each step replaces the layer-0 embeddings of a random `mask_ratio` of all user and item nodes
    by one learnable mask token, propagates the masked table (BPR on its outputs), and maps the
    masked nodes' outputs through an MLP d -> (d_s + d) / 2 -> d_s onto their own profile vectors
    with an InfoNCE over the masked set (temperature `recon_temperature`).
    loss = BPR + L2 + recon_weight * InfoNCE. Prediction propagates the unmasked table.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.mask_ratio = float(config["mask_ratio"])
        self.recon_weight = float(config["recon_weight"])
        self.recon_temperature = float(config["recon_temperature"])
        profiles = torch.cat([self.load_text_vectors(dataset, "user"), self.load_text_vectors(dataset, "item")])
        self.profiles = profiles  # (M+N, d_s), node order of the graph
        self.mask_token = nn.Parameter(torch.zeros(1, self.embedding_size))
        self.mlp = profile_mlp(self.embedding_size, profiles.shape[1])
        # RecBole's padding user and item (rows 0 and M) are never masked.
        nodes = torch.ones(self.n_users + self.n_items, dtype=torch.bool)
        nodes[[0, self.n_users]] = False
        self.maskable = torch.nonzero(nodes).squeeze(1).to(self.device)

    def masked_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(layer-0 table with the mask token at the masked nodes, masked node ids (S,))."""
        table = self.layer0()
        n_masked = max(1, int(len(self.maskable) * self.mask_ratio))
        masked = self.maskable[torch.randperm(len(self.maskable), device=self.device)[:n_masked]]
        keep = torch.ones(len(table), 1, device=table.device)
        keep[masked] = 0.0
        return table * keep + self.mask_token * (1.0 - keep), masked

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        table0, masked = self.masked_table()
        users_out, items_out = self.embed(table0)
        per_pair, reg = self.pair_losses(table0, users_out, items_out, user, pos, neg)
        outputs = torch.cat([users_out, items_out])
        recon = paired_infonce(self.mlp(outputs[masked]), self.profiles[masked], self.recon_temperature)
        return per_pair.mean() + reg + self.recon_weight * recon
