"""What the analysis knows about models and matchers, read from their two registries only.

`benchmark.models` says each model's role, display name, paper name, colour and marker;
`dmrec.matchers` says each matcher's label, kind and colour. Every list a table or figure uses
(Table 2's bases, Table 3's baselines, Fig. 5's ablations) is derived here, so a model registered
by the README recipe reaches every artefact its role fits without an edit in this package. A
stored record of a model that is no longer registered is shown under its name, as a user model.
"""
from __future__ import annotations

from baselines.registry import REGISTRY, models_with_role

FALLBACK_COLOUR = "#333333"
NOT_IN_PAPER = "not in the paper"


def model_label(model: str) -> str:
    spec = REGISTRY.get(model)
    return spec.label if spec else model


def model_role(model: str) -> str:
    spec = REGISTRY.get(model)
    return spec.role if spec else "user"


def in_paper(model: str) -> bool:
    spec = REGISTRY.get(model)
    return bool(spec and spec.in_paper)


def paper_names() -> dict[str, str]:
    """The paper's name of a model -> its registry name (models the paper has)."""
    return {spec.paper_name: name for name, spec in REGISTRY.items() if spec.paper_name}


def model_colour(model: str) -> str:
    spec = REGISTRY.get(model)
    return spec.figure_colour if spec else FALLBACK_COLOUR


def model_marker(model: str) -> str:
    spec = REGISTRY.get(model)
    return spec.figure_marker if spec else "o"


def base_models() -> tuple[str, ...]:
    """DMRec's generative bases (Table 2, Figs. 2, 5, 6), in registration order."""
    return tuple(models_with_role("generative_base"))


def table3_models() -> tuple[str, ...]:
    """The rows Table 3 sets against DMRec-M: ID and LM-enhanced baselines, then user-added models."""
    return (*models_with_role("id_baseline"), *models_with_role("lm_baseline"), *models_with_role("user"))


def model_order(models) -> list[str]:
    """Registry order first, unregistered names after it (alphabetically)."""
    registered = [m for m in REGISTRY if m in set(models)]
    return registered + sorted(set(models) - set(registered))


def _matchers():
    from dmrec.matchers import MATCHERS

    return MATCHERS


def variant_label(matcher: str) -> str:
    spec = _matchers().get(matcher)
    return (spec.label or spec.name) if spec else matcher


def matchers_of_kind(kind: str) -> tuple[str, ...]:
    """'variant': DMRec-G/C/M; 'ablation': Fig. 5's; 'base': the plain model."""
    return tuple(name for name, spec in _matchers().items() if spec.kind == kind)


def dmrec_matchers() -> tuple[str, ...]:
    return matchers_of_kind("variant")


def ablation_matchers() -> tuple[str, ...]:
    return matchers_of_kind("ablation")


def matcher_order(matchers) -> list[str]:
    registered = [m for m in _matchers() if m in set(matchers)]
    return registered + sorted(set(matchers) - set(registered))


def variant_colour(label: str) -> str:
    """The colour of the matcher whose label (or name) is `label`."""
    for name, spec in _matchers().items():
        if label in (spec.label, name):
            return spec.colour or FALLBACK_COLOUR
    return FALLBACK_COLOUR
