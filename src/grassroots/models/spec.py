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
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from grassroots._paths import repository_root
from grassroots._toml_schema import (
    DEFAULT_CUTS,
    OUTCOME_TABLES,
    SPEC_FAMILIES,
    BaselineTable,
    GroupTable,
    KeyPath,
    OutcomeFamily,
    SingleSpecTable,
    StructuralSpecTable,
    TomlSource,
)
from grassroots.models._spec_types import (
    RESERVED_DIMS,
    Baseline,
    GroupLevel,
    ModelSpec,
    OutcomeSpec,
    SamplerSettings,
    check_spec_name,
    check_table,
    validate_sampler,
)
from grassroots.models.exceptions import SpecError
from grassroots.models.priors import validate_priors

# The spec objects live in _spec_types; this module, which makes them, is where they are imported
# from.
__all__ = [
    "DEFAULT_CUTS",
    "Baseline",
    "GroupLevel",
    "ModelSpec",
    "OutcomeSpec",
    "SamplerSettings",
    "check_spec_name",
    "load_spec",
    "shipped_specs",
    "spec_dir",
    "spec_from_dict",
]


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
    text = path.read_text(encoding="utf-8")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from error
    table.setdefault("name", path.stem)
    return _spec_from_table(table, TomlSource(str(path), text), source=str(path))


def spec_from_dict(table: Mapping[str, Any], *, source: str | None = None) -> ModelSpec:
    """Validate a spec given as a dict (the parsed TOML, or :meth:`ModelSpec.to_dict`)."""
    return _spec_from_table(table, TomlSource(source or "<spec>"), source=source)


def _spec_from_table(
    table: Mapping[str, Any], file: TomlSource, *, source: str | None
) -> ModelSpec:
    """:func:`spec_from_dict`, with the file's text (if any) to name the line of each key."""
    table = dict(table)
    # A round-tripped spec (to_dict) is written in the joint form; restore its own family.
    spec_family = table.pop("spec_family", None)
    check_spec_name(table.get("name"), where=file.where(("name",)))
    structural = table.get("family") == "structural"
    top = check_table(StructuralSpecTable if structural else SingleSpecTable, table, file)

    groups = _validate_groups(top.groups, file)
    levels = tuple(level.name for level in groups)
    priors = validate_priors(top.priors, where=file.name, key="priors", levels=levels)
    categorical = {column: str(reference) for column, reference in top.categorical.items()}
    sampler = validate_sampler(top.sampler, file, prefix=("sampler",))

    if structural:
        outcomes = tuple(
            _validate_outcome(
                name_,
                body,
                file,
                place=lambda key, name_=name_: ("outcomes", name_, *key),
                levels=levels,
            )
            for name_, body in top.outcomes.items()
        )
        if "correlated" in table:
            correlated = top.correlated
        else:
            correlated = levels[-1] if levels and len(outcomes) > 1 else False
        if correlated is False:
            correlated = None
        elif correlated not in levels:
            raise SpecError(
                f"{file.at(('correlated',))} must name a grouping level {levels} or be false, "
                f"not {correlated!r}"
            )
        elif len(outcomes) < 2:
            raise SpecError(f"{file.at(('correlated',))} needs at least two outcomes")
    else:
        body = {"family": top.family, **top.outcome}
        for key in ("predictors", "interactions", "baseline", "time_varying"):
            if key in table:
                body[key] = table[key]
        default_name = top.outcome.get("column", top.family)
        if top.family == "survival" or not isinstance(default_name, str):
            default_name = top.family
        outcome_name = body.pop("name", default_name)
        spec_keys = {"family", "predictors", "interactions", "baseline", "time_varying"}

        def place(key: KeyPath) -> KeyPath:
            # Keys given at the top stay there; the others (given or missing) are [outcome]'s.
            return key if key and key[0] in spec_keys & table.keys() else ("outcome", *key)

        outcomes = (_validate_outcome(outcome_name, body, file, place=place, levels=levels),)
        correlated = None

    names = [outcome.name for outcome in outcomes]
    if len(set(names)) != len(names):
        raise SpecError(f"{file.name}: outcome names {names} must be distinct")
    for outcome in outcomes:
        clash = set(outcome.predictors) & set(outcome.outcome_columns)
        if clash:
            raise SpecError(
                f"{file.name}: outcome {outcome.name!r} uses {sorted(clash)} as both outcome "
                "and predictor: remove it from the predictors"
            )
    spec_family = spec_family if spec_family in SPEC_FAMILIES else top.family
    if spec_family != "structural" and len(outcomes) != 1:
        spec_family = "structural"
    return ModelSpec(
        name=top.name,
        family=spec_family,
        outcomes=outcomes,
        groups=groups,
        correlated=correlated,
        categorical=categorical,
        priors=priors,
        sampler=sampler,
        description=top.description,
        source=source,
    )


def _validate_groups(tables: list[GroupTable], file: TomlSource) -> tuple[GroupLevel, ...]:
    groups = []
    for position, table in enumerate(tables):
        derived = table.column.removesuffix("_id") or table.column
        name = derived if table.name is None else table.name
        if not name.isidentifier():
            raise SpecError(
                f"{file.at(('groups', position, 'name'))} must be an identifier, not {name!r}; "
                'name the level with { column = ..., name = "..." }'
            )
        if name in RESERVED_DIMS:
            raise SpecError(
                f"{file.at(('groups', position))}: level name {name!r} is reserved "
                f"({sorted(RESERVED_DIMS)}); give the level another name with "
                "{ column = ..., name = ... }"
            )
        groups.append(
            GroupLevel(name=name, column=table.column, parameterization=table.parameterization)
        )
    if len({g.name for g in groups}) != len(groups) or len({g.column for g in groups}) != len(
        groups
    ):
        raise SpecError(f"{file.at(('groups',))} repeats a level name or column")
    return tuple(groups)


def _validate_outcome(
    name: Any,
    body: Mapping[str, Any],
    file: TomlSource,
    *,
    place: Callable[[KeyPath], KeyPath],
    levels: tuple[str, ...],
) -> OutcomeSpec:
    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(
            f"{file.at(place(('name',)))}: outcome name {name!r} must be an identifier "
            "(e.g. 'survival')"
        )
    family = check_table(OutcomeFamily, body, file, place=place).family
    outcome = check_table(OUTCOME_TABLES[family], body, file, place=place)
    columns = (
        {"time": outcome.time, "event": outcome.event}
        if family == "survival"
        else {"column": outcome.column}
    )
    for key in ("predictors", "interactions"):
        values = getattr(outcome, key)
        if len(set(values)) != len(values):
            raise SpecError(f"{file.at(place((key,)))} lists a column twice")
    interactions = []
    for term in outcome.interactions:
        parts = tuple(part.strip() for part in term.split(":"))
        if len(parts) < 2 or not all(parts) or len(set(parts)) != len(parts):
            raise SpecError(
                f"{file.at(place(('interactions',)))}: {term!r} must join two or more distinct "
                "predictors with ':' (e.g. 'collaboration:authority')"
            )
        missing = [part for part in parts if part not in outcome.predictors]
        if missing:
            raise SpecError(
                f"{file.at(place(('interactions',)))}: {term!r} uses {missing}, which must also "
                "be listed in predictors (main effects)"
            )
        interactions.append(parts)

    baseline = None
    time_varying: dict[str, float] = {}
    if family == "survival":
        baseline = _validate_baseline(outcome.baseline, file, place=place)
        time_varying = _validate_time_varying(
            outcome.time_varying, baseline, set(columns.values()), file, place=place
        )
    prior_key = ".".join(str(part) for part in place(("priors",)))
    return OutcomeSpec(
        name=name,
        family=family,
        columns=columns,
        predictors=tuple(outcome.predictors),
        interactions=tuple(interactions),
        levels=tuple(outcome.levels) if family == "ordinal" and outcome.levels else None,
        baseline=baseline,
        priors=validate_priors(outcome.priors, where=file.name, key=prior_key, levels=levels),
        time_varying=time_varying,
    )


def _validate_baseline(
    table: BaselineTable, file: TomlSource, *, place: Callable[[KeyPath], KeyPath]
) -> Baseline:
    if table.kind == "weibull":
        if table.cuts is not None:
            raise SpecError(
                f"{file.at(place(('baseline', 'cuts')))} applies only to the piecewise baseline: "
                'remove it, or use kind = "piecewise"'
            )
        return Baseline(kind="weibull", cuts=())
    cuts = DEFAULT_CUTS if table.cuts is None else tuple(float(cut) for cut in table.cuts)
    return Baseline(kind="piecewise", cuts=cuts)


def _validate_time_varying(
    onsets: Mapping[str, float],
    baseline: Baseline,
    outcome_columns: set[str],
    file: TomlSource,
    *,
    place: Callable[[KeyPath], KeyPath],
) -> dict[str, float]:
    for column in onsets:
        if column in outcome_columns:
            raise SpecError(
                f"{file.at(place(('time_varying', column)))}: {column!r} is an outcome column"
            )
    result = {column: float(onset) for column, onset in onsets.items()}
    if len(set(result.values())) > 1:
        raise SpecError(
            f"{file.at(place(('time_varying',)))}: all time-varying effects of an outcome share "
            f"one onset; got {sorted(set(result.values()))}"
        )
    if result and baseline.kind == "piecewise":
        onset = next(iter(result.values()))
        if onset not in baseline.cuts:
            raise SpecError(
                f"{file.at(place(('time_varying',)))}: the onset {onset:g} must be one of the "
                f"baseline cuts {list(baseline.cuts)} (add it to 'baseline.cuts')"
            )
    return result
