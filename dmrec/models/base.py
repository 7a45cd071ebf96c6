"""What DMRec's generative bases share: user batches read sparsely, the language branch, the
matcher hookup, the multinomial likelihood and RecBole's prediction interface.

A base model (Mult-VAE, L-DiffRec, CVGA) subclasses `GenerativeRecommender` and provides

    collaborative_gaussian(batch) -> Gaussian    q_phi(z | x_u) of the batch's users, (B, d)
    scores(users) -> (B, n_items)                 prediction scores (eval mode)
    calculate_loss(interaction)                   its own objective, built from `self.match`

and calls `build_language_branch(dataset, latent_dim)` once its latent size is known, then
`initialize_weights()` and `init_item_table(...)` for its item-indexed first layer. Then any
matcher of `dmrec.matchers` attaches: `self.match(q, batch)` returns the regularizer that
replaces the ELBO's KL term and the Gaussian to reconstruct from; `matcher: none` is the plain
base and needs no text vectors.

RecBole's item id 0 is padding, not an item: item tables keep a row 0 that is zero and never read
(no interaction holds item 0), and the multinomial head has one row per *real* item, so no softmax
gives padding probability mass or gradient and its score is -inf.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from benchmark.core.artefacts import text_vectors
from benchmark.core.interactions import SparseRows, train_matrix
from dmrec.divergences import Gaussian
from dmrec.matchers import FORMULATIONS, Matched, get_matcher, resolve_beta
from dmrec.members import SOLO_DRAWS, StackedLinear
from dmrec.pmn import ProbabilisticMetaNetwork


@dataclass
class UserBatch:
    """A batch of users' training rows in CSR form: entry j is (rows[j], items[j]) with input
    value values[j] (the binary x_u after input dropout: 0 or 1/(1-p); 1 without dropout).

    In a group of K members (`dmrec.members`) `users` is (K, B), one row of users per member, and
    the entries are the K * B rows' one after the other: row r belongs to member r // B."""

    users: torch.Tensor  # (B,), or (K, B) in a group
    rows: torch.Tensor  # (nnz,) batch row of each entry, non-decreasing
    items: torch.Tensor  # (nnz,) item id of each entry
    values: torch.Tensor  # (nnz,)
    offsets: torch.Tensor  # (B,) or (K * B,): where each row's entries start
    counts: torch.Tensor  # (B,) or (K * B,) float, training items per row

    def __len__(self) -> int:
        return self.users.shape[-1]

    def product(self, weight: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d) = X_batch @ weight for weight (n_items, d), X_batch holding `values` (default:
        self.values) at the batch's entries: a weighted embedding-bag sum, never a dense (B, N).
        In a group: (K, B, d), from one weight shared by the members or a stacked (K, n_items, d)."""
        values = self.values if values is None else values
        items = self.items
        if weight.dim() == 3:  # one table per member: member m's item i is row m * n_items + i
            items = items + torch.div(self.rows, len(self), rounding_mode="floor") * weight.shape[1]
            weight = weight.reshape(-1, weight.shape[-1])
        out = F.embedding_bag(items, weight, self.offsets, mode="sum", per_sample_weights=values.to(weight.dtype))
        return out.view(*self.users.shape, -1)

    def dense(self, n_items: int) -> torch.Tensor:
        """(B, n_items) with `values` at the entries (for tests and dense references)."""
        out = torch.zeros(len(self), n_items, device=self.values.device)
        out[self.rows, self.items] = self.values
        return out


class _LinearMultinomialNLL(torch.autograd.Function):
    """Linear(hidden, N) followed by the multinomial loss -1/B sum_u sum_i x_ui log softmax(l_u)_i,
    for a sparse non-negative x given by its entries (rows, columns, weights) and row sums (totals).
    Column j is the head's j-th output (real item j + 1): the softmax runs over real items only.

    The (B, N) logits live in one reused workspace: the forward writes them there, turns them into
    exp(l - max) in place, and the backward turns that into the logits' gradient
    (|x_u| softmax_u - x_u) / B in place before the two weight products. No (B, N) tensor is
    allocated per step (each fresh one costs page faults comparable to the products around it)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, workspace, rows, columns, weights, totals):
        logits = torch.addmm(bias, hidden, weight.t(), out=workspace)  # (B, N)
        picked = (logits[rows, columns] * weights).sum()
        peak = logits.amax(dim=1, keepdim=True)
        exps = logits.sub_(peak).exp_()
        sums = exps.sum(dim=1)
        loss = ((totals * (peak.squeeze(1) + sums.log())).sum() - picked) / hidden.shape[0]
        ctx.save_for_backward(hidden, weight, rows, columns, weights, totals, sums)
        ctx.workspace, ctx.version = workspace, workspace._version
        return loss

    @staticmethod
    def backward(ctx, grad):
        hidden, weight, rows, columns, weights, totals, sums = ctx.saved_tensors
        logits_grad = ctx.workspace
        if logits_grad._version != ctx.version:
            raise RuntimeError("MultinomialHead: the workspace was reused before backward; call backward "
                               "before the next training forward")
        scale = grad / hidden.shape[0]
        logits_grad.mul_((totals * scale / sums).unsqueeze(1))
        logits_grad.index_put_((rows, columns), (-scale * weights).to(logits_grad.dtype), accumulate=True)
        hidden_grad = logits_grad @ weight if ctx.needs_input_grad[0] else None
        weight_grad = logits_grad.t() @ hidden if ctx.needs_input_grad[1] else None
        bias_grad = logits_grad.sum(dim=0) if ctx.needs_input_grad[2] else None
        return hidden_grad, weight_grad, bias_grad, None, None, None, None, None


class MultinomialHead(nn.Linear):
    """The decoder's last layer, one logit per real item: Linear(hidden, n_items - 1) where
    `n_items` counts RecBole's padding item 0, so output column j is item j + 1. `loss` is the
    multinomial reconstruction loss of a batch's training rows (Mult-VAE's likelihood), its softmax
    over the real items only; `forward` gives (B, n_items) scores with padding's column at -inf."""

    def __init__(self, in_features: int, n_items: int):
        super().__init__(in_features, n_items - 1)
        self._workspace: torch.Tensor | None = None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.pad(super().forward(hidden), (1, 0), value=-math.inf)  # (B, n_items), column 0 padding

    def workspace(self, rows: int, like: torch.Tensor) -> torch.Tensor:
        buffer = self._workspace
        if buffer is None or buffer.shape[0] < rows or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._workspace = torch.empty(rows, self.out_features, dtype=like.dtype, device=like.device)
        return buffer[:rows]

    @staticmethod
    def stacked_for_members(heads: list[MultinomialHead]) -> StackedMultinomialHead:
        return StackedMultinomialHead(heads)

    def loss(self, hidden: torch.Tensor, batch: UserBatch, target_values: torch.Tensor | None = None) -> torch.Tensor:
        """-1/B sum_u log p(x_u | hidden_u): x_u the binary, undropped rows by default, or
        `target_values` (nnz,) at the batch's entries."""
        if target_values is None:
            weights, totals = torch.ones_like(batch.values), batch.counts
        else:
            weights = target_values
            totals = torch.zeros(len(batch), dtype=weights.dtype, device=weights.device)
            totals.index_add_(0, batch.rows, weights)
        columns = batch.items - 1  # real item i is the head's output i - 1
        return _LinearMultinomialNLL.apply(hidden, self.weight, self.bias, self.workspace(len(hidden), hidden),
                                           batch.rows, columns, weights.to(hidden.dtype), totals.to(hidden.dtype))


class StackedMultinomialHead(StackedLinear):
    """K members' `MultinomialHead`s: hidden (K, B, h) -> scores (K, B, n_items), and the (K,)
    multinomial losses of a group's batch (by autograd over a log-softmax: exact, not in place)."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.pad(super().forward(hidden), (1, 0), value=-math.inf)

    def loss(self, hidden: torch.Tensor, batch: UserBatch, target_values: torch.Tensor | None = None) -> torch.Tensor:
        log_probs = torch.log_softmax(super().forward(hidden), dim=-1).view(-1, self.out_features)  # (K * B, N)
        weights = torch.ones_like(batch.values) if target_values is None else target_values
        picked = log_probs[batch.rows, batch.items - 1] * weights.to(log_probs.dtype)
        per_row = log_probs.new_zeros(len(log_probs)).index_add_(0, batch.rows, picked)
        return -per_row.view(hidden.shape[0], -1).sum(dim=-1) / len(batch)


# `weight_init`: xavier = Xavier-normal weights and zero biases (Liang et al.'s Mult-VAE code);
# torch_default = nn.Linear's own initialisation, which the released DMRec code keeps (its Xavier
# helper is defined and never called).
WEIGHT_INITS = ("xavier", "torch_default")


def xavier_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


@torch.no_grad()
def init_item_table(table: torch.Tensor, bias: torch.Tensor, scheme: str) -> None:
    """Initialise Linear(N, out) over the N real items, stored as its transpose `table`
    (N + 1, out) whose row 0 is RecBole's padding (set to 0; never read), and its bias (out,).
    `xavier`: Xavier-normal (fans N and out), zero bias. `torch_default`: what nn.Linear(N, out)
    draws, kaiming_uniform(a=sqrt(5)) on (out, N), i.e. U(-1/sqrt(N), 1/sqrt(N)) for the weights
    and the bias alike, with fan_in N the real items (not N + 1)."""
    real = table[1:]
    if scheme == "xavier":
        nn.init.xavier_normal_(real)
        bias.zero_()
    else:
        bound = 1.0 / math.sqrt(real.shape[0])
        real.uniform_(-bound, bound)
        bias.uniform_(-bound, bound)
    table[0].zero_()


class GenerativeRecommender(GeneralRecommender):
    """A RecBole model over batches of users whose Gaussian any DMRec matcher can match."""

    input_type = InputType.PAIRWISE
    batch_unit = "users"
    draws = SOLO_DRAWS  # a group's members draw from their own streams (dmrec.members)
    groups = False  # True: its code runs a member-stacked group (dmrec.members); seed-siblings may train as one

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.interactions = SparseRows(train_matrix(dataset), self.device)
        self.matcher = get_matcher(config["matcher"])
        self.formulation = str(config["formulation"])
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, not {self.formulation!r}")
        self.match_function = self.matcher.function(self.formulation)
        self.beta = resolve_beta(self.matcher.name, config["dataset"], config["beta"])
        self.weight_init = str(config["weight_init"])
        if self.weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, not {self.weight_init!r}")
        self.pmn: ProbabilisticMetaNetwork | None = None

    def build_language_branch(self, dataset, latent_dim: int, hidden_size: int = 600) -> None:
        """The PMN with 2 * latent_dim outputs, when the matcher needs the language space."""
        if not self.matcher.needs_text:
            return
        who = f"{type(self).__name__} with matcher '{self.matcher.name}'"
        self.pmn = ProbabilisticMetaNetwork(
            text_vectors(dataset, "item", required_by=who), text_vectors(dataset, "user", required_by=who),
            latent_dim, hidden_size, use_interactions=self.matcher.language_input == "interactions",
        )

    def initialize_weights(self) -> None:
        """Every nn.Linear (the PMN's included) per `weight_init`: re-drawn Xavier-normal with zero
        biases, or left as nn.Linear drew them at construction (`torch_default`). A model's
        item-indexed tables are its own to initialise (`init_item_table`)."""
        if self.weight_init == "xavier":
            self.apply(xavier_init)

    def user_batch(self, users: torch.Tensor, dropout: float = 0.0, mask: torch.Tensor | None = None,
                   entries: int | None = None, member_entries: list[int] | None = None) -> UserBatch:
        """The users' training rows; `dropout` drops entries (inverted scaling) in training mode.
        `mask` (B, n_items), dense dropout multipliers (0 or 1/(1-p)), replaces that draw in any
        mode: the reference test feeds the released code's masks through it. `entries`, the rows'
        entry count when the caller knows it (`batch_entry_count` of a loader's batch), spares a
        host read of the device; in a group, `member_entries` is that count per member."""
        users = users.to(self.interactions.indptr.device)
        flat = users.reshape(-1)
        rows, items, values = self.interactions._gather(flat, entries)
        counts = self.interactions.row_counts[flat]
        offsets = torch.cumsum(counts, 0) - counts
        if mask is not None:
            values = mask.to(values.device)[rows, items]
        elif dropout and self.training:
            if users.dim() == 2 and member_entries is None:
                member_entries = counts.view(users.shape).sum(dim=1).tolist()
            values = self.draws.each_ragged(lambda part: F.dropout(part, dropout, training=True), values,
                                            member_entries)
        return UserBatch(users, rows, items, values, offsets, counts.to(values.dtype))

    def match(self, q: Gaussian, batch: UserBatch) -> Matched:
        """The matcher's (regularizer, Gaussian to reconstruct from) for the batch's q."""
        p = self.pmn(batch) if self.pmn is not None else None
        return self.match_function(q, p, self.beta)

    def prediction_gaussian(self, users: torch.Tensor) -> Gaussian:
        """The Gaussian whose mean the model predicts from (eval mode)."""
        batch = self.user_batch(users)
        return self.match(self.collaborative_gaussian(batch), batch).gaussian

    @torch.no_grad()
    def posterior_mean(self, users: torch.Tensor) -> torch.Tensor:
        """(B, d) E[z_u] of the Gaussian used for prediction: q's mean for the plain base and the
        paper formulation, the summed Gaussian's mean in the released formulation (Fig. 4's a_k)."""
        return self.prediction_gaussian(users).mean

    @staticmethod
    def rows_of(table: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """table[users], (n, d)[(B,)] -> (B, d); in a group each member's own rows, (K, n, d)[(K, B)] -> (K, B, d)."""
        if users.dim() == 2:
            return table[torch.arange(len(users), device=users.device).unsqueeze(1), users]
        return table[users]

    def sample(self, gaussian: Gaussian) -> torch.Tensor:
        """A reparameterised draw of `gaussian`, each member's noise from its own stream."""
        return gaussian.sample(self.draws.each(torch.randn_like, gaussian.mean))

    def full_sort_predict(self, interaction):
        return self.scores(interaction[self.USER_ID])

    def predict(self, interaction):
        scores = self.scores(interaction[self.USER_ID])
        return scores.gather(1, interaction[self.ITEM_ID].view(-1, 1).to(scores.device)).squeeze(1)
