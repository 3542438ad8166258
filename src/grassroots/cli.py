"""The ``grassroots`` command: simulate, validate, describe and reproduce.

Exit codes: 0 success, 1 an unexpected failure, 2 invalid input (data, mapping file, options);
on exit code 2 nothing has been written, except the problem table that ``--problems-csv``
asks for.

Invalid data are reported as a table of problems, one entry per cause (a file's column and the
fix it needs) with the number of cells, their first rows and their values; ``--problems-csv
PATH`` writes every problem, one row per cell, to a CSV file (atomically).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import warnings
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from grassroots._paths import default_reports_dir
from grassroots._seeds import ANALYSIS_SEED, BUNDLED_SEED

if TYPE_CHECKING:
    from rich.progress import Progress

    from grassroots.pipeline import FitProgress, Step

app = typer.Typer(
    name="grassroots",
    help=(
        "Bayesian models of the digital transformation of grassroots public services: "
        "project survival and demand fit in townships nested in counties."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INVALID_INPUT = 2


class Language(StrEnum):
    en = "en"
    zh = "zh"


class Method(StrEnum):
    nuts = "nuts"
    advi = "advi"
    fullrank_advi = "fullrank_advi"


DataArgument = Annotated[
    Path | None,
    typer.Argument(
        help=(
            "The data: a folder holding counties/townships/projects files, a single flat file "
            "(.csv, .parquet, .xlsx, .dta, .sav), or a mapping .toml file. "
            "Default: the bundled synthetic study."
        ),
        show_default=False,
    ),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        "-m",
        help="A TOML mapping file that renames your columns and declares the grouping levels "
        "(see data/templates/mapping.example.toml).",
        exists=False,
    ),
]

AllowOutsideOption = Annotated[
    bool,
    typer.Option(
        "--allow-outside-files",
        help="Let the mapping file's [files] name data outside its own folder (../, absolute "
        "paths); refused by default, so that a mapping from elsewhere cannot read your files.",
    ),
]


ProblemsCsvOption = Annotated[
    Path | None,
    typer.Option(
        "--problems-csv",
        help="Write every data problem, one row per cell (file, row, column, value, problem, "
        "hint), to this CSV file; written on success too (then with no rows).",
        show_default=False,
    ),
]
EncodingOption = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Text encoding of CSV files that are wholly in one other than UTF-8 (e.g. gbk). "
        "Default: UTF-8; cells that are not UTF-8 are reported with row and column.",
        show_default=False,
    ),
]


HeaderRowOption = Annotated[
    int | None,
    typer.Option(
        "--header-row",
        min=1,
        help="The row of the column names in .xlsx sheets. Default: row 1, or the first row "
        "below title rows (skipped with a warning).",
        show_default=False,
    ),
]


def _write_problems(path: Path, problems) -> None:
    from grassroots._io import write_text_atomic

    try:
        write_text_atomic(path, problems.to_csv(index=False, lineterminator="\n"))
    except OSError as error:
        _fail(f"cannot write the problem table to {path}: {error.strerror or error}")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_INVALID_INPUT)


def _source_notes(path: str | None) -> dict[str, str]:
    """"Data: ..." in each language, for Table 1's note: the path given, or the bundled study."""
    from grassroots.reporting.labels import text

    return {
        lang: text("data_source", lang).format(
            source=path if path is not None else text("bundled_study", lang)
        )
        for lang in ("en", "zh")
    }


def _load(
    data: Path | None,
    mapping: Path | None,
    max_problems: int = 50,
    *,
    problems_csv: Path | None = None,
    encoding: str | None = None,
    header_row: int | None = None,
    required_columns: dict[str, str] | None = None,
    allow_outside_files: bool = False,
):
    """Load and validate a study; the bundled one when no path is given.

    Invalid data: print the problem table (one entry per cause), write every problem to
    ``problems_csv`` when asked, and exit 2. ``required_columns``: what the projects (or flat)
    table must hold (``load_study``'s default: ``project_id`` and the survival outcome).
    """
    from grassroots.data import DataValidationError, load_dataset, load_study
    from grassroots.data.validation import PROBLEM_COLUMNS

    try:
        if data is None and mapping is None:
            result = load_dataset(), _source_notes(None)
        else:
            if data is None:
                data = mapping
                mapping = None
            study = load_study(
                data,
                mapping=mapping,
                max_problems=max_problems,
                encoding=encoding,
                header_row=header_row,
                required_columns=required_columns,
                allow_outside_files=allow_outside_files,
            )
            result = study, _source_notes(str(data))
    except DataValidationError as error:
        message = str(error)
        if problems_csv is not None:
            _write_problems(problems_csv, error.problems)
            message += f"\nwrote all {len(error.problems):,d} problems to {problems_csv}"
        _fail(message)
    if problems_csv is not None:
        import pandas as pd

        _write_problems(problems_csv, pd.DataFrame(columns=list(PROBLEM_COLUMNS)))
    return result


def _counts(study) -> str:
    from grassroots.pipeline import count_text

    return count_text(study.n)


@app.command()
def validate(
    data: DataArgument = None,
    mapping: MappingOption = None,
    max_problems: Annotated[
        int, typer.Option(help="List at most this many causes of problems.", min=1)
    ] = 50,
    problems_csv: ProblemsCsvOption = None,
    encoding: EncodingOption = None,
    header_row: HeaderRowOption = None,
    allow_outside_files: AllowOutsideOption = False,
) -> None:
    """Check a data set against the codebook; list every problem with file, row and column.

    Exits 0 when the data are valid and 2 when they are not.
    """
    study, source = _load(
        data,
        mapping,
        max_problems,
        problems_csv=problems_csv,
        encoding=encoding,
        header_row=header_row,
        allow_outside_files=allow_outside_files,
    )
    typer.echo(f"valid: {_counts(study)}. {source}")
    if study.dropped_rows:
        typer.echo(
            f"note: {study.dropped_rows:,d} project rows with missing predictors were dropped, "
            "as the mapping file asks."
        )


@app.command()
def describe(
    data: DataArgument = None,
    mapping: MappingOption = None,
    lang: Annotated[
        Language, typer.Option("--lang", help="Language of labels (from data/codebook.csv).")
    ] = Language.en,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for tables/table1_descriptives.* (md, tex, html, docx, csv). "
        "Default: reports/."),
    ] = None,
    problems_csv: ProblemsCsvOption = None,
    encoding: EncodingOption = None,
    header_row: HeaderRowOption = None,
    allow_outside_files: AllowOutsideOption = False,
) -> None:
    """Table 1: descriptive statistics by level (counties, townships, projects).

    Prints the table and writes it as Markdown and CSV under OUT/tables/.
    """
    from grassroots.reporting.descriptives import table1

    folder = (out or default_reports_dir()) / "tables"
    _check_output_folder("describe", folder, holds="tables", choice="--out")
    study, source = _load(
        data,
        mapping,
        problems_csv=problems_csv,
        encoding=encoding,
        header_row=header_row,
        allow_outside_files=allow_outside_files,
    )
    table = table1(study, lang=lang.value, source_note=source[lang.value])
    written = table.write(folder)
    typer.echo(table.to_markdown())
    typer.echo("wrote " + ", ".join(str(path) for path in written))


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write counties/townships/projects.csv "
                                           "and truth.json into.")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")]
    = BUNDLED_SEED,
    counties: Annotated[
        int | None, typer.Option(help="Number of counties.", min=1, show_default=False)
    ] = None,
    townships_per_county: Annotated[
        float | None,
        typer.Option(help="Mean number of townships per county.", min=1, show_default=False),
    ] = None,
    projects_per_township: Annotated[
        float | None,
        typer.Option(help="Mean number of projects per township.", min=1, show_default=False),
    ] = None,
    national: Annotated[
        bool,
        typer.Option(
            "--national",
            help="National size: 2,800 counties, 38,000 townships, ~150,000 projects.",
        ),
    ] = False,
) -> None:
    """Simulate a synthetic study from the paper's causal structure.

    Writes the three tables and truth.json (every true parameter and group effect). Defaults
    are those of the bundled study; see data/README.md for every parameter.
    """
    from grassroots.data.simulate import SimulationConfig, national_config, write_simulation
    from grassroots.data.simulate import simulate as run

    _check_output_folder("simulate", out, holds="the simulated tables", choice="--out")
    config = national_config() if national else SimulationConfig()
    overrides = {
        "n_counties": counties,
        "townships_per_county": townships_per_county,
        "projects_per_township": projects_per_township,
    }
    try:
        config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        _fail(f"grassroots simulate: {error}")
    sim = run(seed=seed, config=config)
    write_simulation(sim, out)
    n = sim.truth["summary"]
    typer.echo(
        f"wrote {out}: {n['n_counties']:,d} counties, {n['n_townships']:,d} townships, "
        f"{n['n_projects']:,d} projects (seed {seed})"
    )


SpecArgument = Annotated[
    str,
    typer.Argument(
        help="A model spec: the name of a shipped spec (e.g. survival_m4, demand_fit_m2, "
        "structural; see models/*.toml) or the path of a .toml spec file.",
        show_default=False,
    ),
]


FittedDirOption = Annotated[
    Path | None,
    typer.Option(
        "--fitted-dir",
        help="Folder of fit bundles: new fits are saved there and saved ones reused from it. "
        "Default: $GRASSROOTS_FITTED_DIR when set, else models/fitted/ of the current folder.",
        show_default=False,
    ),
]


def _data_name(data: Path | None, mapping: Path | None) -> str:
    """How messages name the data the command reads."""
    return str(data or mapping or "the bundled synthetic study")


def _spec_outcome_columns(spec) -> dict[str, str]:
    """The spec's outcome columns, each with why the data must have it."""
    return {
        column: f"spec {spec.name!r} fits it as the outcome {outcome.name!r}"
        for outcome in spec.outcomes
        for column in outcome.outcome_columns
    }


def _check_output_folder(command: str, folder: Path, **message: str) -> None:
    """Exit 2 before any work when ``folder`` cannot take the command's output.

    ``message``: ``holds`` and ``choice`` of :func:`~grassroots.inference.preflight.
    check_output_folder` (default: the folder of fit bundles).
    """
    from grassroots.inference.preflight import OutputFolderError, check_output_folder

    try:
        check_output_folder(folder, **message)
    except OutputFolderError as error:
        _fail(f"grassroots {command}: {error}")


def _summary_text(fitted) -> str:
    import pandas as pd

    from grassroots.reporting.convergence import summary_notes

    table = fitted.summary()
    dominance = summary_notes(table)["prior_dominance_note"]
    body_end = f"\n\n{dominance}" if dominance else ""
    columns = [c for c in table.columns if c not in ("outcome", "parameter", "term")]
    shown = table[columns].round(3)
    table = shown.astype(object).where(shown.notna(), "")
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        body = table.to_string()
    overview = fitted.diagnostics.overview()
    heading = (
        f"{fitted.spec.name} ({fitted.spec.family}), seed {fitted.seed}, "
        f"{overview['n_samples']:,d} draws"
    )
    if fitted.diagnostics.approximate:
        run = fitted.diagnostics.optimisation
        return (
            f"{heading} of the fitted approximation, method {fitted.method}\n"
            f"WARNING: {fitted.diagnostics.problems()[0]}\n"
            f"optimisation: {run['iterations']:,d} of {run['max_iterations']:,d} iterations, "
            f"final ELBO {run['final_elbo']:,.1f}, "
            + ("converged" if run["converged"] else "NOT CONVERGED")
            + f" (tolerance {run['tolerance']:g}), "
            f"{fitted.timings.get('sample_seconds', float('nan')):.1f} s\n\n{body}{body_end}"
        )
    verdict = (
        "converged" if not fitted.diagnostics.problems()
        else "NOT CONVERGED: " + "; ".join(fitted.diagnostics.problems())
    )
    return (
        f"{heading}, backend {fitted.backend}\n"
        f"diagnostics: max R-hat {overview['max_rhat']:.3f}, min bulk ESS "
        f"{overview['min_ess_bulk']:.0f}, min tail ESS {overview['min_ess_tail']:.0f}, "
        f"{overview['n_divergent']} divergences - {verdict}\n\n{body}{body_end}"
    )


@app.command()
def fit(
    spec: SpecArgument,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="The data: a folder holding counties/townships/projects files, a single flat "
            "file, or a mapping .toml file; only the spec's columns are required. Default: the "
            "bundled synthetic study.",
            show_default=False,
        ),
    ] = None,
    mapping: MappingOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler; the same seed, spec and "
                                           "data give the same draws.")] = ANALYSIS_SEED,
    chains: Annotated[int | None, typer.Option(min=1, help="Chains (default: the spec's).",
                                               show_default=False)] = None,
    draws: Annotated[int | None, typer.Option(min=1, help="Draws per chain after warm-up "
                                              "(default: the spec's).", show_default=False)] = None,
    tune: Annotated[int | None, typer.Option(min=0, help="Warm-up draws per chain (default: "
                                             "the spec's).", show_default=False)] = None,
    refit: Annotated[bool, typer.Option("--refit", help="Sample again even when a saved fit "
                                        "of the same spec, data and seed exists.")] = False,
    method: Annotated[
        Method | None,
        typer.Option(help="nuts, or a variational approximation for data too large for NUTS: "
                     "advi (mean-field) or fullrank_advi. Approximate fits are not NUTS; "
                     "validate them against NUTS before reporting. Default: the spec's (nuts).",
                     show_default=False),
    ] = None,
    fitted_dir: FittedDirOption = None,
    shards: Annotated[
        int | None,
        typer.Option(min=1, help="For a study too large for one NUTS run: fit it in this many "
                     "parts of whole counties and combine them by consensus Monte Carlo "
                     "(coefficients, intercepts, group SDs and correlations only; nothing is "
                     "saved but --summary-csv). Keep many counties in each part.",
                     show_default=False),
    ] = None,
    shard_workers: Annotated[
        int | None,
        typer.Option(min=1, help="With --shards: fit the parts on a local Dask cluster of this "
                     "many processes (default: one after the other, here).",
                     show_default=False),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="With --shards: fit the parts on the existing Dask cluster at this "
                     "address.", show_default=False),
    ] = None,
    summary_csv: Annotated[
        Path | None,
        typer.Option(help="With --shards: also write the combined summary to this CSV file.",
                     show_default=False),
    ] = None,
    allow_outside_files: AllowOutsideOption = False,
    problems_csv: ProblemsCsvOption = None,
    encoding: EncodingOption = None,
    header_row: HeaderRowOption = None,
) -> None:
    """Fit a model spec and save the fit bundle under models/fitted/ (or --fitted-dir).

    The data need the spec's columns only: its outcome, predictor and grouping columns (after
    the mapping's renaming); a flat table for an ordinal spec needs no survival columns, and
    rows without project_id are numbered by their line in the file. Bundles go under
    --fitted-dir, else $GRASSROOTS_FITTED_DIR, else models/fitted/ of the current folder.
    Before sampling, the spec's data are checked (an id used as predictor, a survival outcome
    without events, a grouping level with one group) and so is the folder (a writable folder
    with room for the bundle): a problem exits with code 2 and writes nothing.

    A saved fit with the same spec, data, seed and method is reused unless --refit is given.
    The summary is printed with its convergence diagnostics; a fit that missed R-hat <= 1.01,
    ESS >= 400 or had divergences says so, and an approximate fit (--method advi or
    fullrank_advi) says that it is not NUTS and how its optimisation went.

    With --shards N the study is cut into N parts of whole counties, each fitted by NUTS with the
    shared parameters' prior raised to 1/N, and their draws combined (Scott et al. 2016); the
    summary lists every part's diagnostics. With 25 counties a part it is not yet close to NUTS
    (county SDs up to 2 posterior SDs off; reports/validation/consensus_vs_nuts_medium_s4.md):
    keep many more counties in each part.
    """
    from grassroots.inference import (
        ApproximationError,
        ConvergenceWarning,
        OutputFolderError,
        PreflightError,
    )
    from grassroots.inference import fit as run_fit
    from grassroots.inference import fitted_dir as default_fitted_dir
    from grassroots.inference.prior_dominance import PriorDominanceWarning
    from grassroots.models import ModelDataError, SpecError, load_spec

    try:
        model_spec = load_spec(spec)
    except (SpecError, FileNotFoundError) as error:
        _fail(f"grassroots fit: {error}")
    _check_output_folder("fit", fitted_dir or default_fitted_dir())
    study, _ = _load(
        data,
        mapping,
        problems_csv=problems_csv,
        encoding=encoding,
        header_row=header_row,
        required_columns=_spec_outcome_columns(model_spec),
        allow_outside_files=allow_outside_files,
    )
    if shards is not None:
        _fit_in_shards(study, model_spec, shards, seed=seed, chains=chains, draws=draws,
                       tune=tune, method=method, workers=shard_workers, scheduler=scheduler,
                       summary_csv=summary_csv)  # fmt: skip
        return
    if shard_workers is not None or scheduler is not None or summary_csv is not None:
        _fail("grassroots fit: --shard-workers, --scheduler and --summary-csv go with --shards")
    try:
        # The summary below states the convergence verdict and the prior-dominance note itself,
        # in place of the warnings.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", PriorDominanceWarning)
            fitted = run_fit(study, model_spec, seed=seed, chains=chains, draws=draws, tune=tune,
                             method=None if method is None else method.value,
                             reuse=not refit, fitted_dir=fitted_dir)
    except OutputFolderError as error:
        _fail(f"grassroots fit: {error}")
    except (PreflightError, ModelDataError) as error:
        _fail(f"grassroots fit: {_data_name(data, mapping)}: {error}")
    except (SpecError, FileNotFoundError) as error:
        _fail(f"grassroots fit: {error}")
    except ApproximationError as error:
        typer.echo(f"grassroots fit: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(_summary_text(fitted))
    typer.echo(f"\nsaved {fitted.path}")


def _fit_in_shards(
    study, spec, shards: int, *, method, summary_csv: Path | None, **options
) -> None:
    """``grassroots fit --shards``: consensus Monte Carlo, its summary printed (and written)."""
    from grassroots._io import write_text_atomic
    from grassroots.inference import fit_consensus
    from grassroots.models import ModelDataError

    if method is not None and method.value != "nuts":
        _fail("grassroots fit: --shards combines NUTS fits; leave out --method")
    if summary_csv is not None:
        _check_output_folder("fit", summary_csv.parent if str(summary_csv.parent) else Path("."))

    def shard_line(row: dict) -> None:
        typer.echo(
            f"shard {row['shard'] + 1}/{shards}: {row['groups']} counties, {row['rows']:,d} rows, "
            f"max R-hat {row['max_rhat']:.3f}, min bulk ESS {row['min_ess_bulk']:.0f}, "
            f"{row['divergences']} divergences, {row['wall_seconds']:.0f} s",
            err=True,
        )

    try:
        result = fit_consensus(study, spec, shards=shards, on_shard=shard_line, **options)
    except (ValueError, ModelDataError) as error:  # PreflightError is a ValueError
        _fail(f"grassroots fit: {error}")
    table = result.summary()
    overview = result.diagnostics.overview()
    failed = result.shards[~result.shards["converged"]]["shard"].tolist()
    verdict = "converged" if result.converged else "NOT CONVERGED: " + (
        f"shard(s) {', '.join(str(n + 1) for n in failed)} missed R-hat <= 1.01, ESS >= 400 or "
        "had divergences" if failed else "the combined draws missed R-hat <= 1.01 or ESS >= 400"
    )
    typer.echo(
        f"{spec.name}: consensus Monte Carlo over {shards} county shards "
        f"({', '.join(str(n) for n in result.shards['groups'])} counties), "
        f"{spec.sampler.chains} chains x {spec.sampler.draws} draws each\n"
        f"combined draws: max R-hat {overview['max_rhat']:.3f}, min bulk ESS "
        f"{overview['min_ess_bulk']:.0f} - {verdict}\n"
        "group effects are not combined; nothing was saved\n\n"
        + table.to_string(float_format=lambda v: f"{v:.3f}")
    )
    if summary_csv is not None:
        write_text_atomic(summary_csv, table.to_csv(lineterminator="\n", float_format="%.6g"))
        typer.echo(f"\nwrote {summary_csv}")


@app.command()
def summary(
    bundle: Annotated[Path, typer.Argument(help="A fit bundle folder (models/fitted/...).",
                                           show_default=False)],
) -> None:
    """Print the posterior summary and diagnostics of a saved fit bundle."""
    from grassroots.inference import BundleError, Fit

    try:
        fitted = Fit.load(bundle)
    except BundleError as error:
        _fail(f"grassroots summary: {error}")
    typer.echo(_summary_text(fitted))


@app.command()
def reproduce(
    data: DataArgument = None,
    mapping: MappingOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for tables and figures. Default: reports/.")
    ] = None,
    seed: Annotated[int, typer.Option(help="The one seed of every fit and estimand.")]
    = ANALYSIS_SEED,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="2 chains x 60 draws per fit: a preview of every table "
                     "in minutes; its tables say that the fits did not converge."),
    ] = False,
    fitted_dir: FittedDirOption = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Fit the models not yet saved on a local Dask cluster of this "
                     "many processes (1: one after the other, here)."),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Fit them on the existing Dask cluster at this address instead; the "
                     "fitted folder must be shared with its workers."),
    ] = None,
    problems_csv: ProblemsCsvOption = None,
    encoding: EncodingOption = None,
    header_row: HeaderRowOption = None,
    allow_outside_files: AllowOutsideOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only: no progress, no summary.")
    ] = False,
) -> None:
    """Run the whole analysis: validate, fit every spec, estimands, every table and figure.

    Fits are saved under models/fitted/ (or --fitted-dir) and reused when spec, data and seed
    are unchanged; every file is written atomically. reports/README.md records versions, seed
    and data hash. Progress goes to stderr: a live display (fit i/n, spec, time) on a
    terminal, one line per step otherwise, as in CI logs.
    """
    from grassroots.inference import OutputFolderError, PreflightError
    from grassroots.inference import fitted_dir as default_fitted_dir
    from grassroots.pipeline import STAGES, ReproduceSettings, Step, check_before_fitting, run
    from grassroots.reporting.figures import FontNotAvailableError

    reports = out or default_reports_dir()
    _check_output_folder("reproduce", reports, holds="tables and figures", choice="--out")
    _check_output_folder("reproduce", fitted_dir or default_fitted_dir())
    with _progress_display(quiet) as progress:
        progress.on_step(Step(1, STAGES, "validating the data"))
        study, source = _load(
            data,
            mapping,
            problems_csv=problems_csv,
            encoding=encoding,
            header_row=header_row,
            allow_outside_files=allow_outside_files,
        )
        progress.on_step(Step(1, STAGES, f"valid: {_counts(study)}"))
        settings = (
            ReproduceSettings.quick(seed, fitted_dir=fitted_dir)
            if quick
            else ReproduceSettings(seed=seed, fitted_dir=fitted_dir)
        )
        settings = dataclasses.replace(settings, workers=workers, scheduler=scheduler)
        try:
            check_before_fitting(study, reports, settings)
        except (OutputFolderError, FontNotAvailableError) as error:
            _fail(f"grassroots reproduce: {error}")
        except PreflightError as error:
            _fail(f"grassroots reproduce: {_data_name(data, mapping)}: {error}")
        try:
            written = run(study, reports, settings, source_note=source,
                          on_step=progress.on_step, on_fit=progress.on_fit)  # fmt: skip
        except PreflightError as error:  # e.g. the disk filled up between two fits
            typer.echo(f"grassroots reproduce: {error}", err=True)
            raise typer.Exit(1) from error
    if not quiet:
        typer.echo(f"wrote {len(written)} files under {reports}")


class _LogLines:
    """Progress as one line per step on stderr, for logs and pipes."""

    def on_step(self, step: Step) -> None:
        typer.echo(f"[{step.number}/{step.total}] {step.title}", err=True)

    def on_fit(self, event: FitProgress) -> None:
        if event.done:
            typer.echo(f"      {_fit_line(event)}", err=True)


class _Silent:
    """``--quiet``: errors only."""

    def on_step(self, step: Step) -> None:
        pass

    def on_fit(self, event: FitProgress) -> None:
        pass


class _LiveDisplay:
    """Progress on a terminal: the stage and its time, and a bar of the fits with the one
    running and its time; every step and finished fit stays on screen as a line above them."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._stage = progress.add_task("", total=None)
        self._fits = None

    def on_step(self, step: Step) -> None:
        line = f"[{step.number}/{step.total}] {step.title}"
        self._progress.console.print(line, highlight=False)
        self._progress.update(self._stage, description=line)
        if step.number > 3 and self._fits is not None:
            self._progress.update(self._fits, visible=False)

    def on_fit(self, event: FitProgress) -> None:
        if self._fits is None:
            self._fits = self._progress.add_task("", total=event.total)
        if event.done:
            self._progress.console.print(f"      {_fit_line(event)}", highlight=False)
            self._progress.update(self._fits, completed=event.number)
        else:
            running = f"fit {event.number}/{event.total} {event.spec}"
            # Restart the clock: the elapsed column shows the time of the fit now running.
            self._progress.reset(self._fits, total=event.total, completed=event.number - 1,
                                 description=running)  # fmt: skip


def _fit_line(event: FitProgress) -> str:
    verdict = "converged" if event.converged else "NOT converged"
    return f"[{event.number:2d}/{event.total}] {event.spec:<28} {event.seconds:6.1f} s  {verdict}"


@contextlib.contextmanager
def _progress_display(quiet: bool) -> Iterator[_LogLines | _Silent | _LiveDisplay]:
    """The progress display that suits stderr: none (``quiet``), a live one on a terminal,
    plain lines otherwise."""
    if quiet:
        yield _Silent()
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _LogLines()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        yield _LiveDisplay(progress)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
