"""LLMRec on LightGCN: profile features fused into the graph embeddings, augmented edges, pruning,
masked feature reconstruction. The augmented edges come from the semantic proxy (augmentation.py)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn.functional import normalize

from baselines.lightgcn.lightgcn import LightGCN
from baselines.llmrec.augmentation import proxy_pretraining, semantic_proxy_edges
from baselines.losses import bpr_loss, scaled_cosine_error
from benchmark.core.artefacts import LightGCNPretraining, lightgcn_embeddings

PRUNE_CHOICES = ("highest_loss", "lowest_loss")


def prune_mean(losses: torch.Tensor, drop_rate: float, prune: str) -> torch.Tensor:
    """Mean of per-sample losses after dropping a `drop_rate` fraction of them.

    `prune: highest_loss` drops the largest losses, the noisy samples of LLMRec's paper;
    `lowest_loss` drops the smallest, which is what the released code computes (it sorts
    log-sigmoid scores ascending and keeps the head, i.e. keeps the highest losses).
    """
    if prune not in PRUNE_CHOICES:
        raise ValueError(f"prune must be one of {PRUNE_CHOICES}, not {prune!r}")
    n_keep = max(1, int((1.0 - drop_rate) * len(losses)))
    order = torch.argsort(losses.detach())
    kept = order[:n_keep] if prune == "highest_loss" else order[len(losses) - n_keep:]
    return losses[kept].mean()


def row_scaled(matrix: sp.csr_matrix, device) -> torch.Tensor:
    """D_row^-1/2 M as a torch sparse tensor (the released code's `csr_norm(mean_flag=True)`)."""
    counts = np.asarray(matrix.sum(1)).ravel()
    scale = np.zeros_like(counts, dtype=np.float64)
    scale[counts > 0] = counts[counts > 0] ** -0.5
    coo = (sp.diags(scale) @ matrix).tocoo()
    indices = torch.as_tensor(np.stack([coo.row, coo.col]), dtype=torch.long)
    return torch.sparse_coo_tensor(indices, torch.as_tensor(coo.data, dtype=torch.float32), coo.shape,
                                   check_invariants=True).coalesce().to(device)


class LLMRec(LightGCN):
    """LLMRec (Wei et al., "LLMRec: Large Language Models with Graph Augmentation for
    Recommendation", WSDM 2024), with semantic-proxy edge augmentation; display name
    "LLMRec (semantic-proxy augmentation)".

    - Feature branch: the user profile vector and the item vector are projected to d and carried
      two hops over the user-item graph; their L2-normalised results are added to LightGCN's
      output (`user_cat_rate` for the user-profile branch, `item_cat_rate` for the item branch).
    - Augmented edges: for a random `aug_sample_rate` of each batch's pairs, the pair's user brings
      its augmented (positive, negative) item; BPR runs on the batch plus these pairs.
    - Denoising: `prune` / `prune_drop_rate` drop a fraction of the per-pair BPR terms.
    - Masked feature reconstruction: each step a `mask_rate` of users and items get the mean
      profile vector as input; decoders map their feature-branch outputs back to the original
      vectors, scored by GraphMAE's scaled cosine error (`sce_gamma`), weight `recon_weight`.
    - `feature_bpr_weight`: BPR on the feature branch alone (the released `aug_mf_rate` term).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.user_cat_rate = float(config["user_cat_rate"])
        self.item_cat_rate = float(config["item_cat_rate"])
        self.aug_sample_rate = float(config["aug_sample_rate"])
        self.prune = str(config["prune"])
        if self.prune not in PRUNE_CHOICES:
            raise ValueError(f"prune must be one of {PRUNE_CHOICES}, not {self.prune!r}")
        self.prune_drop_rate = float(config["prune_drop_rate"])
        self.mask_rate = float(config["mask_rate"])
        self.recon_weight = float(config["recon_weight"])
        self.sce_gamma = float(config["sce_gamma"])
        self.feature_bpr_weight = float(config["feature_bpr_weight"])
        self.user_profiles = self.load_text_vectors(dataset, "user")  # (M, d_s)
        self.item_profiles = self.load_text_vectors(dataset, "item")  # (N, d_s)
        d_s, d = self.item_profiles.shape[1], self.embedding_size
        self.user_trans, self.item_trans = nn.Linear(d_s, d), nn.Linear(d_s, d)
        for layer in (self.user_trans, self.item_trans):
            nn.init.xavier_uniform_(layer.weight)
        self.user_decoder = nn.Sequential(nn.Linear(d, d_s), nn.LeakyReLU())
        self.item_decoder = nn.Sequential(nn.Linear(d, d_s), nn.LeakyReLU())
        self.ui = row_scaled(self.interactions, self.device)  # (M, N)
        self.iu = row_scaled(self.interactions.T.tocsr(), self.device)  # (N, M)

        proxy = torch.from_numpy(lightgcn_embeddings(dataset, proxy_pretraining(config))).clone()  # (M + N, d)
        edges = semantic_proxy_edges(self.interactions, self.user_profiles.cpu().numpy(),
                                     self.item_profiles.cpu().numpy(), proxy[:self.n_users], proxy[self.n_users:],
                                     int(config["proxy_candidates"]))
        self.register_buffer("augmented", torch.as_tensor(edges, device=self.device), persistent=False)  # (M, 2)

    @classmethod
    def pretrainings(cls, config) -> tuple[LightGCNPretraining, ...]:
        """What the data layer trains before the model is built: the semantic proxy's candidate LightGCN."""
        return (proxy_pretraining(config),)

    def feature_branch(self, user_x: torch.Tensor, item_x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Two-hop features: user profile -> items -> users, item vector -> users -> items."""
        item_from_profile = torch.sparse.mm(self.iu, self.user_trans(user_x))  # (N, d)
        user_from_item = torch.sparse.mm(self.ui, self.item_trans(item_x))  # (M, d)
        return {
            "user_profile": torch.sparse.mm(self.ui, item_from_profile),  # (M, d)
            "item_profile": item_from_profile,
            "user_item": user_from_item,
            "item_item": torch.sparse.mm(self.iu, user_from_item),  # (N, d)
        }

    def fuse(self, users_out, items_out, features) -> tuple[torch.Tensor, torch.Tensor]:
        users = (users_out + self.user_cat_rate * normalize(features["user_profile"], dim=1)
                 + self.item_cat_rate * normalize(features["user_item"], dim=1))
        items = (items_out + self.user_cat_rate * normalize(features["item_profile"], dim=1)
                 + self.item_cat_rate * normalize(features["item_item"], dim=1))
        return users, items

    def embed(self, table=None):
        users_out, items_out = super().embed(table)
        return self.fuse(users_out, items_out, self.feature_branch(self.user_profiles, self.item_profiles))

    def masked_inputs(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(vectors with a random `mask_rate` of rows 1.. replaced by their mean, masked rows)."""
        n = len(vectors) - 1  # row 0 is RecBole's padding id
        masked = 1 + torch.randperm(n, device=vectors.device)[: int(self.mask_rate * n)]
        out = vectors.clone()
        out[masked] = vectors[1:].mean(0)
        return out, masked

    def with_augmented_pairs(self, user, pos, neg):
        """The batch plus one augmented (user, positive, negative) per sampled pair."""
        n_aug = int(len(user) * self.aug_sample_rate)
        picked = user[torch.randperm(len(user), device=user.device)[:n_aug]]
        edges = self.augmented[picked]
        picked, edges = picked[edges[:, 0] >= 0], edges[edges[:, 0] >= 0]
        return torch.cat([user, picked]), torch.cat([pos, edges[:, 0]]), torch.cat([neg, edges[:, 1]])

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        user, pos, neg = self.with_augmented_pairs(user, pos, neg)
        table0 = self.layer0()
        users_out, items_out = super().embed(table0)
        user_x, masked_users = self.masked_inputs(self.user_profiles)
        item_x, masked_items = self.masked_inputs(self.item_profiles)
        features = self.feature_branch(user_x, item_x)
        users, items = self.fuse(users_out, items_out, features)
        per_pair, reg = self.pair_losses(table0, users, items, user, pos, neg)
        loss = prune_mean(per_pair, self.prune_drop_rate, self.prune) + reg
        if self.feature_bpr_weight:
            fu, fp, fn = features["user_profile"][user], features["item_item"][pos], features["item_item"][neg]
            loss = loss + self.feature_bpr_weight * bpr_loss((fu * fp).sum(-1), (fu * fn).sum(-1)).mean()
        if self.recon_weight and len(masked_users) and len(masked_items):
            recon = (scaled_cosine_error(self.user_decoder(features["user_profile"][masked_users]),
                                         self.user_profiles[masked_users], self.sce_gamma)
                     + scaled_cosine_error(self.item_decoder(features["item_item"][masked_items]),
                                           self.item_profiles[masked_items], self.sce_gamma))
            loss = loss + self.recon_weight * recon
        return loss
