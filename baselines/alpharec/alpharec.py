"""AlphaRec: an MLP over LM vectors, LightGCN propagation, no ID embeddings, cosine InfoNCE."""
from __future__ import annotations

import torch
from torch import nn

from baselines.lightgcn.lightgcn import LightGCN
from baselines.losses import l2_rows, sampled_softmax
from benchmark.core.interactions import SparseRows

USER_INPUTS = ("items_mean", "own_profile", "average")
# The released code sizes the hidden layer so that d_s * hidden stays 3072 * 1536 for every LM
# (multiplier 2 for 1536-d ada-002, 1/2 for 3072-d text-embedding-3-large, 8 for 768-d BERT).
PARAMETER_MATCHED_PRODUCT = 3072 * 1536
DENSE_COSINE_LIMIT = 64_000_000  # batch x items entries up to which the loss scores all items


def mean_of_item_vectors(interactions, item_vectors: torch.Tensor) -> torch.Tensor:
    """(M, d_s): each user's mean over its training items' vectors (zeros without items).
    A segment sum over the non-zeros: the (M, N) matrix is never densified."""
    rows = SparseRows(interactions, item_vectors.device)
    users = torch.arange(interactions.shape[0], device=item_vectors.device)
    sums = rows.matmul(users, item_vectors)
    return sums / rows.row_counts.clamp(min=1).unsqueeze(1).to(sums.dtype)


def user_input_vectors(kind: str, items_mean: torch.Tensor, own_profile: torch.Tensor | None) -> torch.Tensor:
    """The user side's LM input: AlphaRec's item mean, the user's own profile, or their average."""
    if kind not in USER_INPUTS:
        raise ValueError(f"user_input must be one of {USER_INPUTS}, not {kind!r}")
    if kind == "items_mean":
        return items_mean
    if kind == "own_profile":
        return own_profile
    return 0.5 * (items_mean + own_profile)


class AlphaRec(LightGCN):
    """AlphaRec (Sheng et al., "Language Representations Can be What Recommenders Need: Findings
    and Potentials", ICLR 2025).

    No ID embeddings: an item's input is its LM vector, a user's input the mean of its training
    items' vectors; a shared MLP (d_s -> hidden -> d, LeakyReLU) maps both, LightGCN propagates
    (`layer_combination: mean`, L = 2), and a sampled softmax on cosine similarities with
    `num_negatives` uniformly drawn negatives per positive trains it (temperature `tau`);
    prediction ranks by cosine similarity.

    AlphaRec* (registry name `alpharec_star`) is this class with `user_input: own_profile`
    (the user's own profile vector replaces the item mean) or `average` (the mean of the two).
    """

    uses_id_embeddings = False

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.num_negatives = int(config["num_negatives"])  # read by the pair loader
        self.tau = float(config["tau"])
        self.user_input = str(config["user_input"])
        item_vectors = self.load_text_vectors(dataset, "item")  # (N, d_s)
        own = self.load_text_vectors(dataset, "user") if self.user_input != "items_mean" else None
        users = user_input_vectors(self.user_input, mean_of_item_vectors(self.interactions, item_vectors), own)
        self.register_buffer("inputs", torch.cat([users, item_vectors]), persistent=False)  # (M+N, d_s)
        d_s = item_vectors.shape[1]
        factor = config["mlp_hidden_factor"]
        hidden = round(PARAMETER_MATCHED_PRODUCT / d_s) if factor is None else max(1, int(float(factor) * d_s))
        self.mlp = nn.Sequential(nn.Linear(d_s, hidden), nn.LeakyReLU(), nn.Linear(hidden, self.embedding_size))

    def layer0(self) -> torch.Tensor:
        return self.mlp(self.inputs)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        users = nn.functional.normalize(users, dim=-1)
        items = nn.functional.normalize(items, dim=-1)
        return users @ items.transpose(-1, -2)

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        neg = neg.view(len(user), -1)  # (B, K); the loader sends (B,) when K = 1
        table0 = self.layer0()
        users_out, items_out = self.embed(table0)
        u = nn.functional.normalize(users_out[user], dim=-1)  # (B, d)
        items = nn.functional.normalize(items_out, dim=-1)  # (N, d)
        if len(user) * self.n_items <= DENSE_COSINE_LIMIT:
            # One (B, N) product, then gather: far cheaper than materialising (B, K, d) negatives.
            cosines = u @ items.T
            pos_cos, neg_cos = cosines.gather(1, pos.unsqueeze(1)).squeeze(1), cosines.gather(1, neg)
        else:
            pos_cos = (u * items[pos]).sum(-1)
            neg_cos = torch.einsum("bd,bkd->bk", u, items[neg])
        loss = sampled_softmax(pos_cos, neg_cos, self.tau)
        if self.reg_weight:
            loss = loss + self.reg_weight * l2_rows(table0[user], table0[self.n_users + pos])
        return loss
