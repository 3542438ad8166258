"""Declarative model specs: ``models/*.toml`` parsed into frozen dataclasses and validated.

A spec names columns, never townships: any flat table with 0, 1 or 2 nested grouping levels
(projects in townships in counties, patients in hospitals, pupils in schools) can be described.

Single-family spec (``family`` is ``survival``, ``ordinal`` or ``logistic``)::

    name = "survival_m1"                       # a plain name: it names the fit's folder
    family = "survival"
    description = "Survival M1: group effects + weaknesses"
    groups = ["county_id", "township_id"]     # outer -> inner; [] for no group effects
    predictors = ["authority", "resources", "tech_capacity"]
    interactions = []                          # e.g. ["collaboration:authority"]
    time_varying = { short_sighted = 12 }      # survival: extra effect from month 12 on

    [outcome]
    time = "months"                            # survival: time and event columns
    event = "discontinued"
    # column = "demand_fit"; levels = [1, 2, 3, 4, 5]   (ordinal)
    # column = "extensive"                              (logistic)

    [baseline]                                 # survival only
    kind = "piecewise"                         # or "weibull"
    cuts = [6, 12, 18, 24, 36, 48, 60, 84]     # interval boundaries in months

    [categorical]                              # column = reference level
    region = "east"

    [priors]                                   # see grassroots.models.priors
    beta = { dist = "Normal", mu = 0, sigma = 1 }

    [sampler]
    chains = 4
    draws = 1000
    tune = 1000
    target_accept = 0.9

A joint (``family = "structural"``) spec has no top-level ``predictors``/``[outcome]``; it has one
``[outcomes.<name>]`` table per outcome with that outcome's ``family``, columns, ``predictors``,
``interactions``, ``baseline`` and ``priors``, and ``correlated = "<level>"`` names the grouping
level whose effects are correlated across outcomes (default: the innermost level).

Groups may be given as column names (the level is named after the column without ``_id``) or as
tables ``{ column = "hospital_code", name = "hospital" }``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from grassroots._paths import repository_root
from grassroots.models.exceptions import SpecError
from grassroots.models.priors import validate_priors

FamilyName = Literal["survival", "ordinal", "logistic"]
FAMILIES: tuple[str, ...] = ("survival", "ordinal", "logistic")
SPEC_FAMILIES: tuple[str, ...] = (*FAMILIES, "structural")
BaselineKind = Literal["piecewise", "weibull"]
# Boundaries of the piecewise-constant baseline, in months: fine early, where most projects stop,
# coarser later; the last interval runs from 84 months to infinity.
DEFAULT_CUTS: tuple[float, ...] = (6.0, 12.0, 18.0, 24.0, 36.0, 48.0, 60.0, 84.0)
BACKENDS = ("nutpie", "pymc")
#: How the posterior is obtained: NUTS, or a variational approximation (PyMC's mean-field or
#: full-rank ADVI) for data too large for NUTS.
METHODS = ("nuts", "advi", "fullrank_advi")
# Settings that only an approximate method reads; a NUTS spec leaves them out of its dict and
# hash, so bundle keys of NUTS fits made before they existed still match.
_APPROXIMATION_SETTINGS = ("method", "iterations", "tolerance")
ADAPTATIONS = ("diag", "low_rank")
# Dimension names the package itself uses; a grouping level may not take them.
RESERVED_DIMS = frozenset({"chain", "draw", "row", "sample", "outcome", "outcome2", "quantile"})
#: A spec name becomes a folder name under the fitted folder, so it is a plain name: letters
#: (any script), digits, "_", "-" and "." (not first or last): no path separator, no "..".
SPEC_NAME_PATTERN = re.compile(r"\w(?:[\w.-]{0,98}\w)?")


@dataclass(frozen=True)
class GroupLevel:
    """One grouping level: its name (the PyMC dim) and the data column holding its ids."""

    name: str
    column: str


@dataclass(frozen=True)
class Baseline:
    """Survival baseline hazard: ``piecewise`` constant between ``cuts``, or ``weibull``."""

    kind: BaselineKind = "piecewise"
    cuts: tuple[float, ...] = DEFAULT_CUTS


@dataclass(frozen=True)
class SamplerSettings:
    """How the posterior is obtained: NUTS (default) or an approximation.

    NUTS: ``backend`` is ``nutpie`` (default) or ``pymc``; ``adaptation`` is nutpie's mass-matrix
    adaptation: ``diag`` (default) or ``low_rank`` (adapts to posterior correlations; ignored by
    the PyMC backend).

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
            "groups": [{"column": g.column, "name": g.name} for g in self.groups],
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
        sampler = _validate_sampler(
            {**self.sampler.__dict__, **given}, where=f"{self.name}: sampler overrides"
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


# ---------------------------------------------------------------------------------------------
# Loading and validation


def spec_dir() -> Path:
    """The folder of the shipped specs: the repository's ``models/`` (or ``grassroots/_models``)."""
    packaged = Path(__file__).resolve().parents[1] / "_models"
    if packaged.is_dir():
        return packaged
    root = repository_root()
    if root is not None and (root / "models").is_dir():
        return root / "models"
    raise FileNotFoundError(
        "grassroots cannot find its shipped model specs (models/*.toml); pass a spec file path"
    )


def shipped_specs() -> list[str]:
    """Names of the shipped model specs: the TOML files of :func:`spec_dir` with a ``family``.

    Other TOML files there (e.g. ``scenarios.toml`` of the contrasts) are not model specs.
    """
    names = []
    for path in sorted(spec_dir().glob("*.toml")):
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError:
            continue
        if "family" in table:
            names.append(path.stem)
    return names


def load_spec(spec: str | Path | ModelSpec) -> ModelSpec:
    """Read and validate a spec.

    Parameters
    ----------
    spec : str, Path or ModelSpec
        A path to a TOML file, the name of a shipped spec (``"survival_m2"``), or a spec (returned
        unchanged).

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        When the file is not valid TOML or a key is missing, unknown or malformed; the message
        names the file and the key.

    Examples
    --------
    >>> spec = load_spec("survival_m1")
    >>> spec.family, spec.levels
    ('survival', ('county', 'township'))
    """
    if isinstance(spec, ModelSpec):
        return spec
    path = Path(spec)
    if not path.suffix and not path.exists():
        candidate = spec_dir() / f"{path.name}.toml"
        if not candidate.is_file():
            known = shipped_specs()
            hint = difflib.get_close_matches(path.name, known, n=3)
            raise SpecError(
                f"no spec file {spec!r} and no shipped spec of that name"
                + (f"; did you mean {hint}?" if hint else f"; shipped specs: {known}")
            )
        path = candidate
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from error
    table.setdefault("name", path.stem)
    return spec_from_dict(table, source=str(path))


_TOP_KEYS_SINGLE = {
    "name",
    "family",
    "description",
    "groups",
    "predictors",
    "interactions",
    "outcome",
    "baseline",
    "time_varying",
    "categorical",
    "priors",
    "sampler",
}
_TOP_KEYS_STRUCTURAL = {
    "name",
    "family",
    "description",
    "groups",
    "correlated",
    "outcomes",
    "categorical",
    "priors",
    "sampler",
}
_OUTCOME_KEYS = {
    "survival": {"time", "event"},
    "ordinal": {"column"},
    "logistic": {"column"},
}
_OUTCOME_OPTIONAL = {"survival": set(), "ordinal": {"levels"}, "logistic": set()}


def spec_from_dict(table: Mapping[str, Any], *, source: str | None = None) -> ModelSpec:
    """Validate a spec given as a dict (the parsed TOML, or :meth:`ModelSpec.to_dict`)."""
    where = source or "<spec>"
    table = dict(table)
    # A round-tripped spec (to_dict) is written in the joint form; restore its own family.
    spec_family = table.pop("spec_family", None)
    name = table.get("name")
    check_spec_name(name, where=where)
    family = table.get("family")
    if family not in SPEC_FAMILIES:
        raise SpecError(f"{where}: key 'family' must be one of {SPEC_FAMILIES}, not {family!r}")
    allowed = _TOP_KEYS_STRUCTURAL if family == "structural" else _TOP_KEYS_SINGLE
    _reject_unknown(table, allowed, where=where, prefix="")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where}: key 'description' must be a string")

    groups = _validate_groups(table.get("groups", []), where=where)
    levels = tuple(level.name for level in groups)
    priors = validate_priors(table.get("priors", {}), where=where, key="priors", levels=levels)
    categorical = _validate_categorical(table.get("categorical", {}), where=where)
    sampler = _validate_sampler(table.get("sampler", {}), where=f"{where}: key 'sampler'")

    if family == "structural":
        raw = table.get("outcomes")
        if not isinstance(raw, Mapping) or not raw:
            raise SpecError(
                f"{where}: key 'outcomes' must hold one [outcomes.<name>] table per outcome"
            )
        outcomes = tuple(
            _validate_outcome(name_, body, where=where, prefix=f"outcomes.{name_}.", levels=levels)
            for name_, body in raw.items()
        )
        correlated = table.get("correlated", levels[-1] if levels and len(outcomes) > 1 else False)
        if correlated is False or correlated is None:
            correlated = None
        elif correlated not in levels:
            raise SpecError(
                f"{where}: key 'correlated' must name a grouping level {levels} or be false, "
                f"not {correlated!r}"
            )
        elif len(outcomes) < 2:
            raise SpecError(f"{where}: key 'correlated' needs at least two outcomes")
    else:
        outcome_table = table.get("outcome")
        if not isinstance(outcome_table, Mapping):
            raise SpecError(f"{where}: missing [outcome] table (the outcome column(s))")
        body = {
            "family": family,
            **outcome_table,
            "predictors": table.get("predictors", []),
            "interactions": table.get("interactions", []),
        }
        for key in ("baseline", "time_varying"):
            if key in table:
                body[key] = table[key]
        column = outcome_table.get("column")
        default_name = column if family != "survival" and isinstance(column, str) else family
        outcome_name = body.pop("name", default_name)
        outcomes = (_validate_outcome(outcome_name, body, where=where, prefix="", levels=levels),)
        correlated = None

    names = [outcome.name for outcome in outcomes]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: outcome names {names} must be distinct")
    for outcome in outcomes:
        clash = set(outcome.predictors) & set(outcome.outcome_columns)
        if clash:
            raise SpecError(
                f"{where}: outcome {outcome.name!r} uses {sorted(clash)} as both outcome and "
                "predictor"
            )
    spec_family = spec_family if spec_family in SPEC_FAMILIES else family
    if spec_family != "structural" and len(outcomes) != 1:
        spec_family = "structural"
    return ModelSpec(
        name=name,
        family=spec_family,
        outcomes=outcomes,
        groups=groups,
        correlated=correlated,
        categorical=categorical,
        priors=priors,
        sampler=sampler,
        description=description,
        source=source,
    )


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


def _reject_unknown(
    table: Mapping[str, Any], allowed: set[str], *, where: str, prefix: str
) -> None:
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise SpecError(
                f"{where}: unknown key '{prefix}{key}'"
                + (f"; did you mean '{prefix}{hint[0]}'?" if hint else "")
                + f" (allowed here: {sorted(allowed)})"
            )


def _validate_groups(raw: Any, *, where: str) -> tuple[GroupLevel, ...]:
    if not isinstance(raw, list):
        raise SpecError(f"{where}: key 'groups' must be a list, outer level first")
    if len(raw) > 2:
        raise SpecError(f"{where}: key 'groups' allows 0, 1 or 2 nested levels, not {len(raw)}")
    groups = []
    for position, item in enumerate(raw):
        key = f"groups[{position}]"
        if isinstance(item, str):
            column = item
            name = item.removesuffix("_id") or item
        elif isinstance(item, Mapping):
            _reject_unknown(item, {"column", "name"}, where=where, prefix=f"{key}.")
            column = item.get("column")
            name = item.get("name", column.removesuffix("_id") if isinstance(column, str) else None)
        else:
            raise SpecError(f"{where}: key '{key}' must be a column name or {{ column, name }}")
        if not isinstance(column, str) or not column:
            raise SpecError(f"{where}: key '{key}.column' must be a non-empty string")
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{where}: key '{key}.name' must be an identifier, not {name!r}")
        if name in RESERVED_DIMS:
            raise SpecError(
                f"{where}: key '{key}': level name {name!r} is reserved ({sorted(RESERVED_DIMS)}); "
                "give the level another name with { column = ..., name = ... }"
            )
        groups.append(GroupLevel(name=name, column=column))
    if len({g.name for g in groups}) != len(groups) or len({g.column for g in groups}) != len(
        groups
    ):
        raise SpecError(f"{where}: key 'groups' repeats a level name or column")
    return tuple(groups)


def _validate_categorical(raw: Any, *, where: str) -> dict[str, str | None]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: key 'categorical' must be a table of column = reference level")
    result: dict[str, str | None] = {}
    for column, reference in raw.items():
        if isinstance(reference, bool) or not isinstance(reference, str | int):
            raise SpecError(
                f"{where}: key 'categorical.{column}' must be the reference level (a string or "
                f"integer), not {reference!r}"
            )
        result[column] = str(reference)
    return result


def _validate_sampler(raw: Any, *, where: str) -> SamplerSettings:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: must be a table")
    defaults = SamplerSettings()
    _reject_unknown(raw, set(defaults.__dict__), where=where, prefix="")
    values = {**defaults.__dict__, **raw}
    for key in ("chains", "draws", "tune", "max_treedepth"):
        value = values[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (0 if key == "tune" else 1)
        ):
            raise SpecError(f"{where}: '{key}' must be a positive integer, not {value!r}")
    target = values["target_accept"]
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target < 1:
        raise SpecError(f"{where}: 'target_accept' must lie in (0, 1), not {target!r}")
    if values["adaptation"] not in ADAPTATIONS:
        raise SpecError(
            f"{where}: 'adaptation' must be one of {ADAPTATIONS}, not {values['adaptation']!r}"
        )
    if values["backend"] not in BACKENDS:
        raise SpecError(f"{where}: 'backend' must be one of {BACKENDS}, not {values['backend']!r}")
    if values["method"] not in METHODS:
        raise SpecError(
            f"{where}: 'method' must be one of {METHODS} (NUTS, mean-field ADVI, full-rank ADVI), "
            f"not {values['method']!r}"
        )
    iterations = values["iterations"]
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise SpecError(f"{where}: 'iterations' must be a positive integer, not {iterations!r}")
    tolerance = values["tolerance"]
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
        raise SpecError(f"{where}: 'tolerance' must be a positive number, not {tolerance!r}")
    values["target_accept"] = float(target)
    values["tolerance"] = float(tolerance)
    return SamplerSettings(**values)


def _string_list(value: Any, *, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SpecError(f"{where}: key '{key}' must be a list of column names")
    if len(set(value)) != len(value):
        raise SpecError(f"{where}: key '{key}' lists a column twice")
    return tuple(value)


def _validate_outcome(
    name: Any, body: Any, *, where: str, prefix: str, levels: tuple[str, ...]
) -> OutcomeSpec:
    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(f"{where}: outcome name {name!r} must be an identifier (e.g. 'survival')")
    if not isinstance(body, Mapping):
        raise SpecError(f"{where}: key '{prefix.rstrip('.')}' must be a table")
    family = body.get("family")
    if family not in FAMILIES:
        raise SpecError(f"{where}: key '{prefix}family' must be one of {FAMILIES}, not {family!r}")
    required = _OUTCOME_KEYS[family]
    allowed = (
        required
        | _OUTCOME_OPTIONAL[family]
        | {"family", "predictors", "interactions", "priors", "name"}
        | ({"baseline", "time_varying"} if family == "survival" else set())
    )
    _reject_unknown(body, allowed, where=where, prefix=prefix)
    columns = {}
    for key in sorted(required):
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise SpecError(
                f"{where}: key '{prefix}{key}' must name the {family} outcome's {key} column"
            )
        columns[key] = value
    # Keep survival columns in (time, event) order for readable dicts.
    if family == "survival":
        columns = {"time": columns["time"], "event": columns["event"]}

    predictors = _string_list(body.get("predictors", []), where=where, key=f"{prefix}predictors")
    interactions = []
    for term in _string_list(
        body.get("interactions", []), where=where, key=f"{prefix}interactions"
    ):
        parts = tuple(part.strip() for part in term.split(":"))
        if len(parts) < 2 or not all(parts) or len(set(parts)) != len(parts):
            raise SpecError(
                f"{where}: key '{prefix}interactions': {term!r} must join two or more distinct "
                "predictors with ':' (e.g. 'collaboration:authority')"
            )
        missing = [part for part in parts if part not in predictors]
        if missing:
            raise SpecError(
                f"{where}: key '{prefix}interactions': {term!r} uses {missing}, which must also be "
                "listed in predictors (main effects)"
            )
        interactions.append(parts)

    levels_value = None
    if family == "ordinal" and "levels" in body:
        raw_levels = body["levels"]
        if (
            not isinstance(raw_levels, list)
            or len(raw_levels) < 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw_levels)
            or sorted(set(raw_levels)) != raw_levels
        ):
            raise SpecError(
                f"{where}: key '{prefix}levels' must be at least two increasing integers, e.g. "
                "[1, 2, 3, 4, 5]"
            )
        levels_value = tuple(raw_levels)

    baseline = None
    time_varying: dict[str, float] = {}
    if family == "survival":
        baseline = _validate_baseline(
            body.get("baseline", {}), where=where, key=f"{prefix}baseline"
        )
        time_varying = _validate_time_varying(
            body.get("time_varying", {}),
            baseline,
            columns=set(columns.values()),
            where=where,
            key=f"{prefix}time_varying",
        )

    priors = validate_priors(
        body.get("priors", {}), where=where, key=f"{prefix}priors", levels=levels
    )
    return OutcomeSpec(
        name=name,
        family=family,
        columns=columns,
        predictors=predictors,
        interactions=tuple(interactions),
        levels=levels_value,
        baseline=baseline,
        priors=priors,
        time_varying=time_varying,
    )


def _validate_baseline(raw: Any, *, where: str, key: str) -> Baseline:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: key '{key}' must be a table with 'kind' (and 'cuts')")
    _reject_unknown(raw, {"kind", "cuts"}, where=where, prefix=f"{key}.")
    kind = raw.get("kind", "piecewise")
    if kind not in ("piecewise", "weibull"):
        raise SpecError(f"{where}: key '{key}.kind' must be 'piecewise' or 'weibull', not {kind!r}")
    if kind == "weibull":
        if "cuts" in raw:
            raise SpecError(f"{where}: key '{key}.cuts' applies only to the piecewise baseline")
        return Baseline(kind="weibull", cuts=())
    cuts = raw.get("cuts", list(DEFAULT_CUTS))
    if (
        not isinstance(cuts, list)
        or not cuts
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in cuts)
        or any(c <= 0 for c in cuts)
        or any(b <= a for a, b in zip(cuts, cuts[1:], strict=False))
    ):
        raise SpecError(
            f"{where}: key '{key}.cuts' must be a non-empty list of increasing positive times "
            f"(the interval boundaries after 0), e.g. {list(DEFAULT_CUTS)}"
        )
    return Baseline(kind="piecewise", cuts=tuple(float(c) for c in cuts))


def _validate_time_varying(
    raw: Any, baseline: Baseline, *, columns: set[str], where: str, key: str
) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: key '{key}' must be a table of column = onset (months)")
    result: dict[str, float] = {}
    for column, onset in raw.items():
        if isinstance(onset, bool) or not isinstance(onset, int | float) or onset <= 0:
            raise SpecError(
                f"{where}: key '{key}.{column}' must be a positive onset in months, not {onset!r}"
            )
        if column in columns:
            raise SpecError(f"{where}: key '{key}.{column}': {column!r} is an outcome column")
        result[column] = float(onset)
    if len(set(result.values())) > 1:
        raise SpecError(
            f"{where}: key '{key}': all time-varying effects of an outcome share one onset; "
            f"got {sorted(set(result.values()))}"
        )
    if result and baseline.kind == "piecewise":
        onset = next(iter(result.values()))
        if onset not in baseline.cuts:
            raise SpecError(
                f"{where}: key '{key}': the onset {onset:g} must be one of the baseline cuts "
                f"{list(baseline.cuts)} (add it to 'baseline.cuts')"
            )
    return result
