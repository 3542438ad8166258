"""The spec objects (frozen dataclasses) and the checks they need after loading.

:mod:`grassroots.models.spec` reads and validates spec files into these objects and is where the
package imports them from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from grassroots._toml_schema import (
    DEFAULT_CUTS,
    KeyPath,
    KeyProblem,
    SamplerTable,
    TomlSource,
    TomlTable,
    validate_table,
)
from grassroots.models.exceptions import SpecError

FamilyName = Literal["survival", "ordinal", "logistic"]
BaselineKind = Literal["piecewise", "weibull"]
# Settings that only an approximate method reads; a NUTS spec leaves them out of its dict and
# hash, so bundle keys of NUTS fits made before they existed still match.
_APPROXIMATION_SETTINGS = ("method", "iterations", "tolerance")
# Dimension names the package itself uses; a grouping level may not take them.
RESERVED_DIMS = frozenset({"chain", "draw", "row", "sample", "outcome", "outcome2", "quantile"})
#: A spec name becomes a folder name under the fitted folder, so it is a plain name: letters
#: (any script), digits, "_", "-" and "." (not first or last): no path separator, no "..".
SPEC_NAME_PATTERN = re.compile(r"\w(?:[\w.-]{0,98}\w)?")


@dataclass(frozen=True)
class GroupLevel:
    """One grouping level: its name (the PyMC dim), the data column holding its ids, and how its
    effects are sampled (``non_centred``, ``centred`` or ``auto``; see
    :mod:`grassroots.models.parameterization`)."""

    name: str
    column: str
    parameterization: str = "non_centred"

    def to_dict(self) -> dict[str, str]:
        # The default is left out, so specs written before the option keep their hash.
        table = {"column": self.column, "name": self.name}
        if self.parameterization != "non_centred":
            table["parameterization"] = self.parameterization
        return table


@dataclass(frozen=True)
class Baseline:
    """Survival baseline hazard: ``piecewise`` constant between ``cuts``, or ``weibull``."""

    kind: BaselineKind = "piecewise"
    cuts: tuple[float, ...] = DEFAULT_CUTS


@dataclass(frozen=True)
class SamplerSettings:
    """How the posterior is obtained: NUTS (default) or an approximation.

    NUTS: ``backend`` is ``nutpie`` (default) or ``pymc``; ``adaptation`` is nutpie's mass-matrix
    adaptation: ``diag`` (default; from the draws' and the gradients' variances), ``draw_diag``
    (from the draws' variance alone, as Stan and PyMC adapt) or ``low_rank`` (adapts to
    posterior correlations); the PyMC backend ignores it.

    ``method`` ``advi`` or ``fullrank_advi`` fits PyMC's mean-field or full-rank ADVI instead:
    at most ``iterations`` optimisation steps, stopped early once no variational parameter moved
    by more than ``tolerance`` over 1,000 steps; ``chains * draws`` draws of the fitted
    approximation are kept, as one chain (:attr:`draw_shape`). ``tune``, ``target_accept``,
    ``max_treedepth``, ``backend`` and ``adaptation`` are NUTS-only.
    """

    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.9
    max_treedepth: int = 10
    backend: str = "nutpie"
    adaptation: str = "diag"
    method: str = "nuts"
    iterations: int = 50_000
    tolerance: float = 0.05

    @property
    def approximate(self) -> bool:
        """Whether the posterior is a variational approximation rather than NUTS draws."""
        return self.method != "nuts"

    @property
    def draw_shape(self) -> tuple[int, int]:
        """``(chains, draws)`` of the posterior a fit with these settings holds."""
        if self.approximate:
            return 1, self.chains * self.draws
        return self.chains, self.draws

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict; a NUTS spec's leaves out the approximation settings."""
        settings = dict(self.__dict__)
        if not self.approximate:
            for key in _APPROXIMATION_SETTINGS:
                settings.pop(key)
        return settings


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome and its linear predictor.

    Attributes
    ----------
    name : str
        Prefix of the outcome's parameters (``<name>_beta``, ``<name>_sd_<level>`` ...).
    family : {"survival", "ordinal", "logistic"}
    columns : Mapping[str, str]
        ``{"time": ..., "event": ...}`` for survival, ``{"column": ...}`` otherwise.
    predictors : tuple of str
        Main-effect columns.
    interactions : tuple of tuple of str
        Products of main effects, e.g. ``(("collaboration", "authority"),)``.
    levels : tuple of int, optional
        Ordered categories of an ordinal outcome; inferred from the data when ``None``.
    baseline : Baseline, optional
        Survival only.
    time_varying : Mapping[str, float]
        Survival only: column -> onset (months). The column's coefficient ``<name>_beta_late``
        multiplies the hazard only after the onset (on top of any main effect the column has as
        a predictor). One onset per outcome; with a piecewise baseline it must be a cut point.
    priors : Mapping[str, Any]
        Outcome-specific prior overrides (role -> Prior).
    """

    name: str
    family: FamilyName
    columns: Mapping[str, str]
    predictors: tuple[str, ...] = ()
    interactions: tuple[tuple[str, ...], ...] = ()
    levels: tuple[int, ...] | None = None
    baseline: Baseline | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    time_varying: Mapping[str, float] = field(default_factory=dict)

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        return tuple(self.columns.values())

    @property
    def onset(self) -> float | None:
        """The onset (months) of the time-varying effects, or ``None`` without any."""
        return next(iter(self.time_varying.values())) if self.time_varying else None


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec; build it with :func:`load_spec` or :func:`spec_from_dict`."""

    name: str
    family: str
    outcomes: tuple[OutcomeSpec, ...]
    groups: tuple[GroupLevel, ...] = ()
    correlated: str | None = None
    categorical: Mapping[str, str | None] = field(default_factory=dict)
    priors: Mapping[str, Any] = field(default_factory=dict)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    description: str = ""
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Also guards specs made with dataclasses.replace(), which skip spec_from_dict.
        check_spec_name(self.name, where=self.source or "<spec>")

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.groups)

    def outcome(self, name: str) -> OutcomeSpec:
        for outcome in self.outcomes:
            if outcome.name == name:
                return outcome
        raise KeyError(f"spec {self.name!r} has no outcome {name!r}; it has {self.outcome_names}")

    @property
    def outcome_names(self) -> tuple[str, ...]:
        return tuple(outcome.name for outcome in self.outcomes)

    def columns(self) -> tuple[str, ...]:
        """Every data column the spec reads (groups, outcomes, predictors), each once."""
        names: list[str] = [level.column for level in self.groups]
        for outcome in self.outcomes:
            names += [*outcome.outcome_columns, *outcome.predictors, *outcome.time_varying]
        return tuple(dict.fromkeys(names))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict from which :func:`spec_from_dict` rebuilds an equal spec."""
        outcomes = {}
        for outcome in self.outcomes:
            entry: dict[str, Any] = {
                "family": outcome.family,
                **dict(outcome.columns),
                "predictors": list(outcome.predictors),
                "interactions": [":".join(parts) for parts in outcome.interactions],
            }
            if outcome.levels is not None:
                entry["levels"] = list(outcome.levels)
            if outcome.baseline is not None:
                entry["baseline"] = {"kind": outcome.baseline.kind}
                if outcome.baseline.kind == "piecewise":
                    entry["baseline"]["cuts"] = list(outcome.baseline.cuts)
            if outcome.time_varying:
                entry["time_varying"] = dict(outcome.time_varying)
            if outcome.priors:
                entry["priors"] = _priors_to_dict(outcome.priors)
            outcomes[outcome.name] = entry
        return {
            "name": self.name,
            "family": "structural",
            "description": self.description,
            "groups": [level.to_dict() for level in self.groups],
            "correlated": self.correlated if self.correlated is not None else False,
            "categorical": {key: value for key, value in self.categorical.items()},
            "priors": _priors_to_dict(self.priors),
            "sampler": self.sampler.to_dict(),
            "outcomes": outcomes,
            "spec_family": self.family,
        }

    def hash(self) -> str:
        """SHA-256 of the canonical JSON form: comments and key order in the file do not count."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def with_sampler(self, **overrides: Any) -> ModelSpec:
        """A copy with some sampler settings replaced (``None`` values are ignored)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        if not given:
            return self
        sampler = validate_sampler(
            {**self.sampler.__dict__, **given},
            TomlSource(f"{self.name}: sampler overrides"),
            prefix=(),
        )
        return replace(self, sampler=sampler)

    def without_groups(self) -> ModelSpec:
        """A copy with no grouping levels (for comparisons with fixed-effects fits)."""
        return replace(self, groups=(), correlated=None)


def _priors_to_dict(priors: Mapping[str, Any]) -> dict[str, Any]:
    return {
        role: value if isinstance(value, float) else value.to_dict()
        for role, value in sorted(priors.items())
    }


def check_spec_name(name: Any, *, where: str) -> None:
    """Raise :class:`SpecError` unless ``name`` is a plain name (:data:`SPEC_NAME_PATTERN`).

    The name becomes the fit bundle's folder name: ``"../../x"`` or ``"/tmp/x"`` would put the
    bundle outside the fitted folder.
    """
    if isinstance(name, str) and SPEC_NAME_PATTERN.fullmatch(name) and ".." not in name:
        return
    raise SpecError(
        f"{where}: key 'name' must be a plain name of at most 100 letters, digits, '_', '-' and "
        f"'.' (not first or last, no '..'), such as \"survival_m4\", not {name!r}: it names the "
        "fit's folder, so it may hold no path. Rename the spec (the key 'name', or the file "
        "when the spec has no 'name')"
    )


def check_table(
    model: type[TomlTable],
    table: Any,
    file: TomlSource,
    *,
    place: Callable[[KeyPath], KeyPath] = lambda key: key,
) -> Any:
    """``table`` validated by ``model``, or a :class:`SpecError` naming every problem, by line.

    ``place`` turns a key path of the table into the key path in the file.
    """
    validated, problems = validate_table(model, table)
    if problems:
        in_file_order = sorted(problems, key=lambda problem: file.line(place(problem.path)) or 0)
        raise SpecError("\n".join(_describe(problem, file, place) for problem in in_file_order))
    return validated


def _describe(problem: KeyProblem, file: TomlSource, place: Callable[[KeyPath], KeyPath]) -> str:
    path = place(problem.path)
    where, key = file.where(path), file.display(path)
    fix = f"; {problem.fix}" if problem.fix else ""
    if problem.kind == "unknown":
        close = problem.suggestion()
        hint = f"; did you mean '{file.display((*path[:-1], close))}'?" if close else ""
        return f"{where}: unknown key '{key}'{hint} (allowed here: {sorted(problem.allowed)})"
    if problem.kind == "missing":
        return f"{where}: key '{key}' is missing: it must be {problem.must}{fix}"
    return f"{where}: key '{key}' must be {problem.must}, not {problem.value!r}{fix}"


def validate_sampler(
    raw: Mapping[str, Any], file: TomlSource, *, prefix: KeyPath
) -> SamplerSettings:
    """The ``[sampler]`` table (at key path ``prefix``) over the defaults, checked."""
    merged = {**SamplerSettings().__dict__, **raw}
    table = check_table(SamplerTable, merged, file, place=lambda key: (*prefix, *key))
    return SamplerSettings(**table.model_dump())
