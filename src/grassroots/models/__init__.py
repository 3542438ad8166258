"""Model families, the shared model builder, priors and spec loading.

``grassroots.models`` is code; the top-level ``models/`` folder of the repository holds the
declarative specs (``models/*.toml``) and, under ``models/fitted/`` (ignored by git), saved fits.
"""

from __future__ import annotations

from grassroots.models.base import Family, OutcomeData, Prediction
from grassroots.models.builder import (
    FAMILIES,
    BuiltModel,
    ModelInputs,
    build_model,
    group_effect_draws,
    predict_draws,
    prepare_inputs,
    stack_draws,
)
from grassroots.models.design import PredictorScaling, Scaling, design_matrix
from grassroots.models.exceptions import ModelDataError, SpecError
from grassroots.models.priors import DEFAULT_PRIORS, Prior
from grassroots.models.spec import (
    Baseline,
    GroupLevel,
    ModelSpec,
    OutcomeSpec,
    SamplerSettings,
    load_spec,
    shipped_specs,
    spec_from_dict,
)

__all__ = [
    "DEFAULT_PRIORS",
    "FAMILIES",
    "Baseline",
    "BuiltModel",
    "Family",
    "GroupLevel",
    "ModelDataError",
    "ModelInputs",
    "ModelSpec",
    "OutcomeData",
    "OutcomeSpec",
    "Prediction",
    "PredictorScaling",
    "Prior",
    "SamplerSettings",
    "Scaling",
    "SpecError",
    "build_model",
    "design_matrix",
    "group_effect_draws",
    "load_spec",
    "predict_draws",
    "prepare_inputs",
    "shipped_specs",
    "spec_from_dict",
    "stack_draws",
]
