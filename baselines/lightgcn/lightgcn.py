"""LightGCN, the backbone every LM-enhanced baseline of Table 3 is built on."""
from __future__ import annotations

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from baselines.lightgcn.graph import LAYER_COMBINATIONS, drop_edges, normalized_adjacency, propagate
from baselines.losses import bpr_loss, l2_rows
from benchmark.core.artefacts import text_vectors
from benchmark.core.interactions import train_matrix


class LightGCN(GeneralRecommender):
    """LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation", SIGIR 2020).

    Layer-0 ID embeddings propagated over the symmetric-normalized user-item graph (no
    self-loops) for `n_layers` layers, combined by `layer_combination` (`mean`: the paper's
    alpha_k = 1/(L+1); `sum`: RLMRec's framework); optional edge dropout in training
    (`keep_rate`); BPR with one sampled unseen negative per training pair plus
    `reg_weight` * L2 of the batch's layer-0 rows; dot-product scores.

    The hooks the baselines override: `layer0()` (the (M+N, d0) input table), `score()`, and
    `calculate_loss()`, which reuses `embed()` and `pair_losses()`.
    """

    input_type = InputType.PAIRWISE
    batch_unit = "pairs"
    uses_id_embeddings = True

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.embedding_size = int(config["embedding_size"])
        self.n_layers = int(config["n_layers"])
        self.layer_combination = str(config["layer_combination"])
        if self.layer_combination not in LAYER_COMBINATIONS:
            raise ValueError(f"layer_combination must be one of {LAYER_COMBINATIONS}, not {self.layer_combination!r}")
        self.keep_rate = float(config["keep_rate"])
        self.reg_weight = float(config["reg_weight"])
        self.interactions = train_matrix(dataset)  # (M, N) binary CSR, internal ids
        self.graph = normalized_adjacency(self.interactions, self.device)
        if self.uses_id_embeddings:
            self.user_embedding = nn.Embedding(self.n_users, self.embedding_size)
            self.item_embedding = nn.Embedding(self.n_items, self.embedding_size)
            nn.init.xavier_uniform_(self.user_embedding.weight)
            nn.init.xavier_uniform_(self.item_embedding.weight)
        self._eval_cache = None

    # ---- hooks -------------------------------------------------------------------------------
    def layer0(self) -> torch.Tensor:
        """(M+N, d0) layer-0 table: users then items."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, d), (N, d) -> (B, N) ranking scores (also batched: (B, 1, d), (B, 1, d) -> (B, 1, 1))."""
        return users @ items.transpose(-1, -2)

    # ---- shared machinery --------------------------------------------------------------------
    def load_text_vectors(self, dataset, kind: str) -> torch.Tensor:
        """(M or N, d_s) LM profile vectors in internal ids (row 0, the padding id, is zeros)."""
        vectors = text_vectors(dataset, kind, required_by=type(self).__name__)
        return torch.as_tensor(vectors, device=self.device)

    def step_graph(self) -> torch.Tensor:
        return drop_edges(self.graph, self.keep_rate) if self.training else self.graph

    def embed(self, table: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagate `table` (default: `layer0()`); returns (users (M, d), items (N, d))."""
        table = self.layer0() if table is None else table
        out = propagate(table, self.step_graph(), self.n_layers, self.layer_combination)
        return out[: self.n_users], out[self.n_users:]

    def pair_losses(self, table0, users_out, items_out, user, pos, neg) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-pair BPR (B,), L2 term) for the batch; table0 is the layer-0 table used."""
        u, p, n = users_out[user], items_out[pos], items_out[neg]
        per_pair = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        reg = l2_rows(table0[user], table0[self.n_users + pos], table0[self.n_users + neg])
        return per_pair, self.reg_weight * reg

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        table0 = self.layer0()
        users_out, items_out = self.embed(table0)
        per_pair, reg = self.pair_losses(table0, users_out, items_out, user, pos, neg)
        return per_pair.mean() + reg

    def train(self, mode: bool = True):
        self._eval_cache = None  # parameters are about to change (or just changed)
        return super().train(mode)

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagated embeddings for ranking, computed once per evaluation (eval mode)."""
        if self.training:
            return self.embed()
        if self._eval_cache is None:
            with torch.no_grad():
                self._eval_cache = self.embed()
        return self._eval_cache

    def predict(self, interaction):
        users_out, items_out = self.final_embeddings()
        u = users_out[interaction[self.USER_ID]]
        i = items_out[interaction[self.ITEM_ID]]
        return self.score(u.unsqueeze(1), i.unsqueeze(1)).view(-1)  # (B,)

    def full_sort_predict(self, interaction):
        users_out, items_out = self.final_embeddings()
        scores = self.score(users_out[interaction[self.USER_ID]], items_out)  # (B, N)
        scores[:, 0] = -torch.inf  # RecBole's padding item 0 is not an item: it never ranks
        return scores
