"""RLMRec-C: LightGCN whose graph embeddings are contrastively aligned with mapped LM profiles."""
from __future__ import annotations

from torch import nn

from baselines.lightgcn.lightgcn import LightGCN
from baselines.losses import candidate_infonce


def profile_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """RLMRec's two-layer map between the profile space and the graph space:
    in -> (in + out) // 2 -> out with LeakyReLU, Xavier-initialised weights."""
    hidden = (in_dim + out_dim) // 2
    mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, out_dim))
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
    return mlp


class RLMRecC(LightGCN):
    """RLMRec-Con (Ren et al., "Representation Learning with Large Language Models for
    Recommendation", WWW 2024), on LightGCN.

    A shared MLP maps every user and item profile vector (d_s) to the graph space (d); an InfoNCE
    on cosine similarities (temperature `kd_temperature`) pulls each batch's user / positive /
    negative graph embedding towards its mapped profile. As in the released code, the user term
    uses all users' mapped profiles as candidates and each item term the batch's own items.
    loss = BPR + L2 + kd_weight * InfoNCE / batch; prediction uses the graph embeddings only.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.kd_weight = float(config["kd_weight"])
        self.kd_temperature = float(config["kd_temperature"])
        self.user_profiles = self.load_text_vectors(dataset, "user")  # (M, d_s)
        self.item_profiles = self.load_text_vectors(dataset, "item")  # (N, d_s)
        self.mlp = profile_mlp(self.user_profiles.shape[1], self.embedding_size)

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        table0 = self.layer0()
        users_out, items_out = self.embed(table0)
        per_pair, reg = self.pair_losses(table0, users_out, items_out, user, pos, neg)
        all_user_profiles = self.mlp(self.user_profiles[1:])  # (M-1, d), the padding user left out
        user_profiles = all_user_profiles[user - 1]
        pos_profiles, neg_profiles = self.mlp(self.item_profiles[pos]), self.mlp(self.item_profiles[neg])
        t = self.kd_temperature
        alignment = (candidate_infonce(users_out[user], user_profiles, all_user_profiles, t)
                     + candidate_infonce(items_out[pos], pos_profiles, pos_profiles, t)
                     + candidate_infonce(items_out[neg], neg_profiles, neg_profiles, t))
        return per_pair.mean() + reg + self.kd_weight * alignment / len(user)
