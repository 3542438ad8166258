"""From a flat table to model inputs: predictor scaling, design matrices and group indices.

The scaling is learnt once, on the data a model is fitted to, and stored with the fit, so that
predictions on new data (or on a counterfactual copy of the fitted data) use the same centring
and scale as the fit:

* **continuous** columns are standardised, ``(x - mean) / sd``; coefficients are per SD;
* **binary** columns (numeric with values in {0, 1}) stay 0/1; coefficients compare 1 with 0;
* **categorical** columns (non-numeric, or declared in the spec's ``[categorical]`` table) become
  treatment (dummy) columns ``column[level]``, one per level other than the reference;
* a numeric column with **two values other than 0 and 1** (sex coded 1/2) is never standardised:
  a two-valued column is a contrast, not a scale, and "per SD" of it means nothing. It is entered
  as a categorical column with the lower value as reference (``sex[2]``, "vs 1"), with a
  :class:`PredictorCodingWarning` that says so; declare it in ``[categorical]`` to choose the
  reference yourself (then no warning). A numeric column with three or more values is continuous
  (a score, per SD); declare it categorical when its values are codes.

Every design column also has an SD on the fitted data (:meth:`Scaling.term_sd`: 1 for a
standardised column, ``sd`` of the 0/1 or dummy column otherwise); the coefficient priors are
stated per SD of their term and scaled by it (:func:`grassroots.models.priors.coefficient_prior`).

An interaction ``a:b`` is the product of the transformed columns of ``a`` and ``b`` (every pair of
their design columns when one is categorical).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from grassroots.models.exceptions import ModelDataError
from grassroots.models.spec import GroupLevel, ModelSpec, OutcomeSpec

PredictorKind = Literal["continuous", "binary", "categorical"]


class PredictorCodingWarning(UserWarning):
    """A predictor was entered in a way its coding did not state (a 1/2 column as a contrast)."""


@dataclass(frozen=True)
class PredictorScaling:
    """How one predictor column enters the design matrix.

    ``mean`` and ``sd`` are the column's on the fitted data: for a continuous column the
    standardisation, for a binary one the share of 1s and the SD of the 0/1 column (both only
    describe it; the column enters as 0/1). ``level_sds`` are the SDs of a categorical column's
    dummies, in :attr:`terms` order. Bundles written before these were stored have ``sd = 1``
    and no ``level_sds``: their terms count as SD 1.
    """

    column: str
    kind: PredictorKind
    mean: float = 0.0
    sd: float = 1.0
    levels: tuple[str, ...] = ()
    reference: str | None = None
    level_sds: tuple[float, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the design columns this predictor produces."""
        if self.kind == "categorical":
            return tuple(
                f"{self.column}[{level}]" for level in self.levels if level != self.reference
            )
        return (self.column,)

    @property
    def term_sds(self) -> tuple[float, ...]:
        """SD of each design column (:attr:`terms`) on the fitted data; 1 when standardised."""
        if self.kind == "continuous":
            return (1.0,)
        if self.kind == "binary":
            return (self.sd,)
        return self.level_sds or (1.0,) * len(self.terms)

    def transform(self, values: pd.Series) -> np.ndarray:
        """Design columns (rows x terms) for ``values``; checks values the fit never saw."""
        if self.kind == "categorical":
            codes = None
            if not values.isna().any():
                # Text and dummies of the distinct values only, then one gather: comparing every
                # row's text costs seconds per design at national size (150,000 rows).
                codes, uniques = pd.factorize(values)
                text = pd.Series(np.asarray(uniques, dtype=object)).astype(str)
            else:
                text = values.astype(str)
            unknown = sorted(set(text) - set(self.levels))
            if unknown:
                raise ModelDataError(
                    f"column {self.column!r} has level(s) {unknown} that the fitted data did not "
                    f"have (known levels: {list(self.levels)})"
                )
            others = [level for level in self.levels if level != self.reference]
            dummies = (
                text.to_numpy()[:, None] == np.asarray(others, dtype=object)[None, :]
            ).astype(float)
            return dummies if codes is None else dummies[codes]
        numeric = _numeric(values, self.column)
        if self.kind == "binary":
            bad = ~np.isin(numeric, (0.0, 1.0))
            if bad.any():
                raise ModelDataError(
                    f"binary predictor {self.column!r} must be 0 or 1; found "
                    f"{sorted(set(numeric[bad].tolist()))[:5]}"
                )
            return numeric[:, None]
        return ((numeric - self.mean) / self.sd)[:, None]


@dataclass(frozen=True)
class Scaling:
    """The scaling of every predictor of a model, keyed by column."""

    predictors: Mapping[str, PredictorScaling]

    @classmethod
    def learn(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str],
        categorical: Mapping[str, str | None] | None = None,
    ) -> Scaling:
        """Learn the scaling of ``columns`` from ``frame``.

        Parameters
        ----------
        frame : DataFrame
            The data the model is fitted to.
        columns : sequence of str
            Predictor columns.
        categorical : Mapping[str, str | None], optional
            Columns to treat as categorical, with their reference level (``None``: the first level
            in sorted order). Non-numeric columns are categorical whether listed or not.
        """
        categorical = dict(categorical or {})
        result = {}
        for column in columns:
            values = frame[column]
            if column in categorical or not _is_numeric(values):
                result[column] = _categorical_scaling(values, column, categorical.get(column))
                continue
            numeric = _numeric(values, column)
            unique = np.unique(numeric)
            if unique.size < 2:
                raise ModelDataError(
                    f"predictor {column!r} is constant ({unique.tolist()}) in the data; drop it "
                    "from the spec"
                )
            if set(unique.tolist()) <= {0.0, 1.0}:
                result[column] = PredictorScaling(
                    column, "binary", mean=float(numeric.mean()), sd=float(numeric.std(ddof=1))
                )
            elif unique.size == 2:
                # The lower value is the reference (string order would put "10" before "9").
                lower = str(values[numeric == unique[0]].astype(str).iloc[0])
                scaling = _categorical_scaling(values, column, lower)
                warnings.warn(
                    f"predictor {column!r} takes two values {list(scaling.levels)}: entered as a "
                    f"contrast {scaling.terms[0]} vs {scaling.reference}, not standardised; to "
                    f"choose the reference, declare it in the spec's [categorical] table "
                    f'({column} = "{scaling.levels[-1]}")',
                    PredictorCodingWarning,
                    stacklevel=2,
                )
                result[column] = scaling
            else:
                result[column] = PredictorScaling(
                    column, "continuous", mean=float(numeric.mean()), sd=float(numeric.std(ddof=1))
                )
        return cls(result)

    def to_dict(self) -> dict[str, Any]:
        return {
            column: {
                **asdict(scaling),
                "levels": list(scaling.levels),
                "level_sds": list(scaling.level_sds),
            }
            for column, scaling in self.predictors.items()
        }

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> Scaling:
        return cls(
            {
                column: PredictorScaling(
                    **{
                        **entry,
                        "levels": tuple(entry["levels"]),
                        "level_sds": tuple(entry.get("level_sds", ())),
                    }
                )
                for column, entry in table.items()
            }
        )

    def term_sd(self, term: str) -> float:
        """SD of a design column on the fitted data; an interaction ``a:b`` multiplies its
        parts' SDs (exact for independent centred parts, and what states its prior per SD of
        each part)."""
        result = 1.0
        for part in term.split(":"):
            column = part.split("[", 1)[0]
            scaling = self.predictors.get(column)
            if scaling is None or part not in scaling.terms:
                raise KeyError(f"{term!r} is not a design term of this scaling")
            result *= scaling.term_sds[scaling.terms.index(part)]
        return result

    def frame(self) -> pd.DataFrame:
        """The scaling as a table (one row per predictor), for reports."""
        rows = [
            {
                "column": s.column,
                "kind": s.kind,
                "mean": s.mean if s.kind != "categorical" else np.nan,
                "sd": s.sd if s.kind != "categorical" else np.nan,
                "reference": s.reference,
                "levels": ", ".join(s.levels),
            }
            for s in self.predictors.values()
        ]
        return pd.DataFrame(rows).set_index("column")


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    if not _is_numeric(values):
        raise ModelDataError(f"predictor {column!r} must be numeric, found dtype {values.dtype}")
    numeric = values.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(numeric).all():
        raise ModelDataError(
            f"predictor {column!r} has {int((~np.isfinite(numeric)).sum())} missing or infinite "
            "value(s); impute them or drop those rows before fitting"
        )
    return numeric


def _categorical_scaling(values: pd.Series, column: str, reference: str | None) -> PredictorScaling:
    if values.isna().any():
        raise ModelDataError(
            f"categorical predictor {column!r} has {int(values.isna().sum())} missing value(s)"
        )
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = tuple(str(level) for level in values.cat.categories if (values == level).any())
    else:
        levels = tuple(sorted(set(values.astype(str))))
    if len(levels) < 2:
        raise ModelDataError(f"categorical predictor {column!r} has a single level {levels}")
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise ModelDataError(
            f"reference level {reference!r} of categorical predictor {column!r} does not occur in "
            f"the data (levels: {list(levels)})"
        )
    scaling = PredictorScaling(column, "categorical", levels=levels, reference=reference)
    dummies = scaling.transform(values)
    return replace(scaling, level_sds=tuple(float(sd) for sd in dummies.std(axis=0, ddof=1)))


def design_matrix(
    frame: pd.DataFrame, outcome: OutcomeSpec, scaling: Scaling
) -> tuple[tuple[str, ...], np.ndarray]:
    """The design matrix of one outcome's linear predictor (no intercept column).

    Returns
    -------
    terms : tuple of str
        Column names: main effects in spec order, then interactions (``a:b``).
    matrix : ndarray, shape (rows, terms)
    """
    blocks: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for column in outcome.predictors:
        scale = scaling.predictors[column]
        blocks[column] = (scale.terms, scale.transform(frame[column]))
    names: list[str] = []
    columns: list[np.ndarray] = []
    for column in outcome.predictors:
        names += blocks[column][0]
        columns.append(blocks[column][1])
    for parts in outcome.interactions:
        part_names, matrix = blocks[parts[0]]
        for part in parts[1:]:
            other_names, other = blocks[part]
            # Row-wise outer product: every pair of the two blocks' design columns.
            matrix = (matrix[:, :, None] * other[:, None, :]).reshape(len(frame), -1)
            part_names = tuple(f"{a}:{b}" for a in part_names for b in other_names)
        names += part_names
        columns.append(matrix)
    if not columns:
        return (), np.zeros((len(frame), 0))
    return tuple(names), np.concatenate(columns, axis=1)


@dataclass(frozen=True)
class GroupIndex:
    """Integer codes of every row at every grouping level, and each level's labels.

    Attributes
    ----------
    levels : tuple of GroupLevel
        Outer to inner.
    composite : tuple of bool
        Per level, whether labels are ``"outer/inner"`` (see :func:`group_keys`).
    labels : tuple of tuple of str
        The labels of each level, in coordinate order.
    codes : tuple of ndarray
        ``codes[k][i]`` is the position of row ``i``'s group at level ``k`` in ``labels[k]``.
    """

    levels: tuple[GroupLevel, ...]
    labels: tuple[tuple[str, ...], ...]
    codes: tuple[np.ndarray, ...]
    composite: tuple[bool, ...] = ()

    @property
    def coords(self) -> dict[str, list[str]]:
        return {
            level.name: list(labels) for level, labels in zip(self.levels, self.labels, strict=True)
        }


def group_keys(
    frame: pd.DataFrame,
    levels: Sequence[GroupLevel],
    composite: Sequence[bool] | None = None,
) -> tuple[list[np.ndarray], tuple[bool, ...]]:
    """The label of every row at every level, and whether each level's labels are composite.

    An inner id that occurs under two outer groups (school ``"1"`` in two districts) names two
    groups, so inner labels are ``"outer/inner"`` whenever an inner id is not unique across outer
    groups; otherwise they are the inner ids themselves. Pass the fitted data's ``composite``
    flags to label new data by the same rule.
    """
    keys: list[np.ndarray] = []
    flags: list[bool] = []
    for position, level in enumerate(levels):
        values = frame[level.column]
        if values.isna().any():
            raise ModelDataError(
                f"grouping column {level.column!r} has {int(values.isna().sum())} missing id(s)"
            )
        text = values.astype(str).to_numpy()
        joined = False
        if position > 0:
            outer = keys[-1]
            if composite is not None:
                joined = bool(composite[position])
            else:
                pairs = pd.DataFrame({"outer": outer, "inner": text}).drop_duplicates()
                joined = bool(pairs["inner"].duplicated().any())
            if joined:
                text = np.char.add(np.char.add(outer.astype(str), "/"), text.astype(str))
        keys.append(np.asarray(text, dtype=object))
        flags.append(joined)
    return keys, tuple(flags)


def build_group_index(frame: pd.DataFrame, levels: Sequence[GroupLevel]) -> GroupIndex:
    """Codes and labels of the groups in ``frame`` (labels sorted, for reproducible coords)."""
    labels, codes = [], []
    all_keys, composite = group_keys(frame, levels)
    for keys in all_keys:
        code, uniques = pd.factorize(pd.Series(keys), sort=True)
        labels.append(tuple(str(u) for u in uniques))
        codes.append(code.astype(np.int64))
    return GroupIndex(tuple(levels), tuple(labels), tuple(codes), composite)


def check_columns(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`ModelDataError` naming every spec column that the data lack."""
    missing = [column for column in spec.columns() if column not in frame.columns]
    if missing:
        raise ModelDataError(
            f"spec {spec.name!r} needs column(s) {missing}, which the data do not have "
            f"(data columns: {list(frame.columns)})"
        )


def spec_predictors(spec: ModelSpec) -> list[str]:
    """Every predictor column of the spec (time-varying ones too), each once, in spec order."""
    return list(
        dict.fromkeys(
            p for outcome in spec.outcomes for p in (*outcome.predictors, *outcome.time_varying)
        )
    )


def late_design_matrix(
    frame: pd.DataFrame, outcome: OutcomeSpec, scaling: Scaling
) -> tuple[tuple[str, ...], np.ndarray]:
    """Design matrix of a survival outcome's time-varying (late) effects; not centred."""
    names: list[str] = []
    columns: list[np.ndarray] = []
    for column in outcome.time_varying:
        scale = scaling.predictors[column]
        names += scale.terms
        columns.append(scale.transform(frame[column]))
    if not columns:
        return (), np.zeros((len(frame), 0))
    return tuple(names), np.concatenate(columns, axis=1)
