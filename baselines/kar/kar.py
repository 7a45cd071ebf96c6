"""KAR: LM profile vectors turned into augmented vectors by a hybrid-expert adaptor, fed to LightGCN."""
from __future__ import annotations

import torch
from torch import nn

from baselines.lightgcn.lightgcn import LightGCN

INJECTIONS = ("concat", "add")


def mix_experts(gate_logits: torch.Tensor, expert_outputs: torch.Tensor) -> torch.Tensor:
    """Softmax-gated mixture: (B, E) logits, (B, E, d) expert outputs -> (B, d)."""
    weights = torch.softmax(gate_logits, dim=-1)
    return torch.einsum("be,bed->bd", weights, expert_outputs)


def expert(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """One expert: two ReLU layers, as KAR's MLP (every layer followed by ReLU)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim), nn.ReLU())


class HybridExpertAdaptor(nn.Module):
    """KAR's hybrid-expert adaptor over two inputs ("sides": here users and items).

    Experts shared by both sides plus experts specific to each side; each side has its own gate
    (a linear map of its input) giving a softmax over its shared + specific experts.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, n_shared: int, n_specific: int, n_sides: int = 2):
        super().__init__()
        self.shared = nn.ModuleList([expert(in_dim, hidden, out_dim) for _ in range(n_shared)])
        self.specific = nn.ModuleList([
            nn.ModuleList([expert(in_dim, hidden, out_dim) for _ in range(n_specific)]) for _ in range(n_sides)
        ])
        self.gates = nn.ModuleList([nn.Linear(in_dim, n_shared + n_specific) for _ in range(n_sides)])

    def side(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) inputs of side `index` -> (B, out_dim) augmented vectors."""
        experts = [net(x) for net in self.shared] + [net(x) for net in self.specific[index]]
        return mix_experts(self.gates[index](x), torch.stack(experts, dim=1))

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.side(i, x) for i, x in enumerate(inputs)]


class KAR(LightGCN):
    """KAR (Xi et al., "Towards Open-World Recommendation with Knowledge Augmentation from Large
    Language Models", RecSys 2024), on LightGCN.

    The user's and the item's LM profile vectors pass through the hybrid-expert adaptor
    (`n_shared_experts` shared, `n_specific_experts` per side, each d_s -> `expert_hidden` -> d);
    the augmented vectors enter LightGCN at layer 0, concatenated with the ID embeddings
    (`injection: concat`, the default) or added to them (`add`); trained with BPR.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.injection = str(config["injection"])
        if self.injection not in INJECTIONS:
            raise ValueError(f"injection must be one of {INJECTIONS}, not {self.injection!r}")
        self.user_profiles = self.load_text_vectors(dataset, "user")  # (M, d_s)
        self.item_profiles = self.load_text_vectors(dataset, "item")  # (N, d_s)
        self.adaptor = HybridExpertAdaptor(self.user_profiles.shape[1], int(config["expert_hidden"]),
                                           self.embedding_size, int(config["n_shared_experts"]),
                                           int(config["n_specific_experts"]))

    def layer0(self) -> torch.Tensor:
        users, items = self.adaptor([self.user_profiles, self.item_profiles])
        augmented = torch.cat([users, items])  # (M+N, d)
        ids = super().layer0()
        return torch.cat([ids, augmented], dim=1) if self.injection == "concat" else ids + augmented
