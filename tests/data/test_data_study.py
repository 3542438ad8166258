"""The Study: canonical tables from any input (flat or three tables, any format, any mapping),
levels, flat(), data_hash(), templates, the bundled data set, and speed at survey scale."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from _study_factories import flatten, make_tables, write_frame, write_tables

import grassroots.data.study as study_module
from grassroots._paths import bundled_data_dir
from grassroots.data import (
    DataValidationError,
    DataValidationWarning,
    Study,
    load_dataset,
    load_study,
    schema,
)

TEMPLATES = bundled_data_dir() / "templates"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return make_tables(n_counties=4, n_townships=10, n_projects=40, seed=7)


@pytest.fixture(scope="module")
def reference(tables, tmp_path_factory) -> Study:
    return load_study(write_tables(tmp_path_factory.mktemp("ref") / "study", tables))


def _mapping(folder: Path, text: str) -> Path:
    path = folder / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Canonical form
# --------------------------------------------------------------------------------------------


def test_canonical_types(reference: Study) -> None:
    projects, townships, counties = reference.projects, reference.townships, reference.counties
    assert reference.levels == ("county", "township")
    for frame, column in [
        (projects, "project_id"),
        (projects, "township_id"),
        (townships, "county_id"),
    ]:
        assert frame[column].map(type).eq(str).all()
    assert projects["discontinued"].dtype == "int64"
    assert counties["collaboration"].dtype == "int64"
    assert projects["demand_fit"].dtype == "Int64"
    assert projects["launch_date"].dtype == "datetime64[ns]"
    assert projects["months"].dtype == "float64"
    assert list(projects["project_type"].cat.categories) == [
        "mini_program",
        "smart_community",
        "grid_management",
        "elderly_care",
        "other",
    ]
    assert list(townships.columns[:2]) == ["township_id", "county_id"]
    assert isinstance(projects.index, pd.RangeIndex)


def test_n_and_repr(reference: Study) -> None:
    assert reference.n == {"county": 4, "township": 10, "project": 40}
    assert (
        repr(reference) == "Study(levels=('county', 'township'), county=4, township=10, project=40)"
    )
    assert set(reference.sources) == {"counties", "townships", "projects"}


def test_flat_keeps_project_order_and_joins_groups(reference: Study, tables) -> None:
    flat = reference.flat()
    assert flat["project_id"].tolist() == tables["projects"]["project_id"].tolist()
    assert list(flat.columns[:3]) == ["project_id", "township_id", "county_id"]
    expected = flatten(tables)
    assert np.allclose(flat["authority"], expected["authority"])
    assert flat["region"].astype(str).tolist() == expected["region"].tolist()


def test_study_checks_its_levels(reference: Study) -> None:
    with pytest.raises(ValueError, match="must be given exactly when"):
        Study(projects=reference.projects, levels=("township",))
    with pytest.raises(ValueError, match="outer to inner"):
        Study(
            projects=reference.projects,
            townships=reference.townships,
            counties=reference.counties,
            levels=("township", "county"),
        )


# --------------------------------------------------------------------------------------------
# The same data through every door give the same study
# --------------------------------------------------------------------------------------------


def test_flat_and_three_tables_give_the_same_flat_and_hash(
    reference: Study, tables, tmp_path: Path
) -> None:
    path = tmp_path / "survey.csv"
    flatten(tables).to_csv(path, index=False)
    from_flat = load_study(path)
    assert from_flat.levels == reference.levels
    pd.testing.assert_frame_equal(from_flat.flat(), reference.flat())
    pd.testing.assert_frame_equal(from_flat.townships, reference.townships)
    pd.testing.assert_frame_equal(from_flat.counties, reference.counties)
    assert from_flat.data_hash() == reference.data_hash()
    assert from_flat.sources == {"flat": str(path)}


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_other_formats_give_the_same_hash(reference: Study, tables, tmp_path, suffix) -> None:
    typed = {name: frame.copy() for name, frame in tables.items()}
    typed["projects"]["launch_date"] = pd.to_datetime(typed["projects"]["launch_date"])
    folder = write_tables(tmp_path / "s", typed, suffix=suffix)
    assert load_study(folder).data_hash() == reference.data_hash()


def test_stata_flat_file_with_value_labels(reference: Study, tables, tmp_path: Path) -> None:
    flat = flatten(tables)
    codes = {"east": 1, "central": 2, "west": 3}
    flat["region"] = flat["region"].map(codes).astype(float)
    flat["demand_fit"] = flat["demand_fit"].astype("float64")
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(
        flat, path, variable_value_labels={"region": {1: "东部", 2: "中部", 3: "西部"}}
    )
    mapping = _mapping(
        tmp_path, '[categories.region]\n"东部" = "east"\n"中部" = "central"\n"3" = "west"\n'
    )
    study = load_study(path, mapping=mapping)  # labels and raw codes both recode
    assert study.data_hash() == reference.data_hash()


def test_stata_binary_codes_recoded_by_their_labels(
    reference: Study, tables, tmp_path: Path
) -> None:
    flat = flatten(tables)
    flat["outsourced"] = flat["outsourced"].map({1: 1, 0: 2}).astype(float)  # 1 是, 2 否
    flat["demand_fit"] = flat["demand_fit"].astype("float64")
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(flat, path, variable_value_labels={"outsourced": {1: "是", 2: "否"}})
    with pytest.raises(DataValidationError, match=r"outsourced must be one of \{0, 1\}"):
        load_study(path)  # code 2 is not 0/1 without the table
    mapping = _mapping(tmp_path, '[categories.outsourced]\n"是" = 1\n"否" = 0\n')
    assert load_study(path, mapping=mapping).data_hash() == reference.data_hash()


def test_from_frames_matches_the_files(reference: Study, tables) -> None:
    study = Study.from_frames(tables["projects"], tables["townships"], tables["counties"])
    assert study.data_hash() == reference.data_hash()


def test_from_frames_reports_problems_by_table_and_record(tables) -> None:
    projects = tables["projects"].copy()
    projects.loc[3, "months"] = -2.0
    with pytest.raises(DataValidationError, match=r"<projects>, row 4, column 'months'"):
        Study.from_frames(projects, tables["townships"], tables["counties"])


def test_data_hash_changes_with_the_data(reference: Study, tables) -> None:
    projects = tables["projects"].copy()
    projects.loc[0, "months"] += 0.5
    changed = Study.from_frames(projects, tables["townships"], tables["counties"])
    assert changed.data_hash() != reference.data_hash()
    reordered = Study.from_frames(
        tables["projects"].iloc[::-1], tables["townships"], tables["counties"]
    )
    assert reordered.data_hash() != reference.data_hash()


def test_data_hash_is_stable_across_runs_and_machines() -> None:
    # A fixed serialisation (little-endian numbers, UTF-8 text, codebook column order) gives a
    # fixed digest. If the templates or the codebook change on purpose, update this value.
    study = load_study(TEMPLATES / "flat.csv")
    assert study.data_hash() == "b75c881594320ecec299264780f7721dda59df348c87ffc1cd16eb7d38b67522"


# --------------------------------------------------------------------------------------------
# Levels: none, township only, county only, both
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "levels", "n"),
    [
        ("[]", (), {"project": 40}),
        ('["township"]', ("township",), {"township": 10, "project": 40}),
        ('["county"]', ("county",), {"county": 4, "project": 40}),
        (
            '["county", "township"]',
            ("county", "township"),
            {"county": 4, "township": 10, "project": 40},
        ),
    ],
)
@pytest.mark.parametrize("layout", ["flat", "tables"])
def test_levels_variants(tables, tmp_path: Path, groups, levels, n, layout) -> None:
    if layout == "flat":
        source = tmp_path / "flat.csv"
        flatten(tables).to_csv(source, index=False)
    else:
        source = write_tables(tmp_path / "s", tables)
    study = load_study(source, mapping=_mapping(tmp_path, f"[levels]\ngroups = {groups}\n"))
    assert study.levels == levels
    assert study.n == n
    # every codebook column is still there, at the level nearest inside its own
    flat = study.flat()
    for column in ("region", "authority", "months", "collaboration", "township_type"):
        assert column in flat.columns
    assert flat["project_id"].tolist() == tables["projects"]["project_id"].tolist()
    if levels == ("township",):
        assert "collaboration" in study.townships.columns  # county column moved in
    if levels == ("county",):
        assert "authority" in study.projects.columns  # township column moved in
        assert study.projects.columns[1] == "county_id"


def test_levels_are_inferred_from_the_files(tables, tmp_path: Path) -> None:
    folder = write_tables(tmp_path / "s", {"projects": tables["projects"]})
    study = load_study(folder)
    assert study.levels == ("township",)
    assert study.townships.columns.tolist() == ["township_id"]
    flat = tables["projects"].drop(columns="township_id")
    path = write_frame(flat, tmp_path / "nolevels.csv")
    assert load_study(path).levels == ()


def test_county_level_from_ids_only(tables, tmp_path: Path) -> None:
    folder = write_tables(
        tmp_path / "s", {"townships": tables["townships"], "projects": tables["projects"]}
    )
    study = load_study(folder)
    assert study.levels == ("county", "township")
    assert study.counties.columns.tolist() == ["county_id"]
    assert study.n["county"] == 4


# --------------------------------------------------------------------------------------------
# A survey with its own names, in GB18030
# --------------------------------------------------------------------------------------------


def test_gb18030_csv_with_chinese_columns_mapped_by_toml(reference, tables, tmp_path) -> None:
    names = {"township_id": "乡镇编码", "project_id": "项目编号", "months": "存续月数"}
    (tmp_path / "data").mkdir()
    for name, frame in tables.items():
        renamed = frame.rename(columns=names)
        if name == "counties":
            renamed["region"] = renamed["region"].map(
                {"east": "东部", "central": "中部", "west": "西部"}
            )
        renamed.to_csv(tmp_path / "data" / f"{name}.csv", index=False, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "data" / "counties.csv").read_text(encoding="utf-8")
    mapping = _mapping(
        tmp_path,
        """
[files]
counties = "data/counties.csv"
townships = "data/townships.csv"
projects = "data/projects.csv"
[columns]
township_id = "乡镇编码"
project_id = "项目编号"
months = "存续月数"
[categories.region]
"东部" = "east"
"中部" = "central"
"西部" = "west"
""",
    )
    study = load_study(mapping)
    assert study.data_hash() == reference.data_hash()
    assert study.sources["mapping"] == str(mapping)


def test_explicit_source_replaces_the_mappings_files(tables, tmp_path: Path) -> None:
    folder = write_tables(tmp_path / "s", tables)
    mapping = _mapping(tmp_path, '[files]\nprojects = "s/projects.csv"\n')
    with pytest.warns(DataValidationWarning, match=r"\[files\] is ignored"):
        study = load_study(folder, mapping=mapping)
    assert study.levels == ("county", "township")


# --------------------------------------------------------------------------------------------
# Sources that cannot be resolved
# --------------------------------------------------------------------------------------------


def test_source_errors(tables, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"no such file or folder"):
        load_study(tmp_path / "nothing")
    both = write_tables(tmp_path / "both", tables)
    flatten(tables).to_csv(both / "flat.csv", index=False)
    with pytest.raises(DataValidationError, match=r"both separate tables and a flat table"):
        load_study(both)
    twice = write_tables(tmp_path / "twice", tables)
    tables["projects"].to_parquet(twice / "projects.parquet")
    with pytest.raises(DataValidationError, match=r"more than one projects table"):
        load_study(twice)
    no_projects = write_tables(tmp_path / "np", {"townships": tables["townships"]})
    with pytest.raises(DataValidationError, match=r"the folder has no projects table"):
        load_study(no_projects)
    unclear = tmp_path / "unclear"
    unclear.mkdir()
    for name in ("a.csv", "b.csv"):
        tables["projects"].to_csv(unclear / name, index=False)
    with pytest.raises(DataValidationError, match=r"cannot tell which files hold the data"):
        load_study(unclear)
    mapping = _mapping(tmp_path, "[levels]\ngroups = []\n")
    with pytest.raises(DataValidationError, match=r"no \[files\] section"):
        load_study(mapping)


def test_every_unreadable_file_is_reported_together(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "townships.csv").write_bytes(b"")
    (folder / "projects.csv").write_text("project_id,x,x\nP1,1,2\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"^2 problems") as info:
        load_study(folder)
    assert info.value.problems["file"].str.endswith(("townships.csv", "projects.csv")).all()


# --------------------------------------------------------------------------------------------
# Templates and the example mapping
# --------------------------------------------------------------------------------------------


def test_templates_are_valid_and_agree(tmp_path: Path) -> None:
    folder = tmp_path / "tables"
    folder.mkdir()
    for name in ("counties", "townships", "projects"):
        shutil.copy(TEMPLATES / f"{name}.csv", folder)
    tables = load_study(folder)
    flat = load_study(TEMPLATES / "flat.csv")
    assert tables.n == flat.n == {"county": 1, "township": 1, "project": 1}
    assert tables.data_hash() == flat.data_hash()
    # each template's header is the codebook's, in codebook order
    for name in ("counties", "townships", "projects"):
        header = pd.read_csv(TEMPLATES / f"{name}.csv", nrows=0).columns.tolist()
        assert header == [v.name for v in schema.table_variables(name)]
    assert set(pd.read_csv(TEMPLATES / "flat.csv", nrows=0).columns) == set(
        schema.canonical_columns()
    )


def test_example_mapping_loads_data_named_as_it_says(tmp_path: Path) -> None:
    """Write the templates under the example's Chinese names and labels; load via the example."""
    example = TEMPLATES / "mapping.example.toml"
    document = tomllib.loads(example.read_text(encoding="utf-8"))
    rename = document["columns"]
    assert set(rename) == set(schema.canonical_columns())  # the example maps every column
    for name, file in document["files"].items():
        frame = pd.read_csv(TEMPLATES / f"{name}.csv", dtype=str)
        for variable, recode in document["categories"].items():
            if variable in frame:
                inverse = {str(level): label for label, level in recode.items()}
                frame[variable] = frame[variable].map(inverse)
        frame.rename(columns=rename).to_csv(tmp_path / file, index=False)
    shutil.copy(example, tmp_path / "mapping.toml")
    study = load_study(tmp_path / "mapping.toml")
    assert study.data_hash() == load_study(TEMPLATES / "flat.csv").data_hash()


# --------------------------------------------------------------------------------------------
# The bundled data set
# --------------------------------------------------------------------------------------------


def test_load_dataset_reads_a_bundled_folder(tables, tmp_path: Path, monkeypatch) -> None:
    write_tables(tmp_path / "my_bundle", tables)
    monkeypatch.setattr(study_module, "bundled_data_dir", lambda: tmp_path)
    study = load_dataset("my_bundle")
    assert study.n == {"county": 4, "township": 10, "project": 40}
    with pytest.raises(
        DataValidationError, match=r"(?s)no bundled data set 'nope'.*use one of: my_bundle"
    ):
        load_dataset("nope")


def test_load_dataset_validates_the_bundle(tables, tmp_path: Path, monkeypatch) -> None:
    bad = {name: frame.copy() for name, frame in tables.items()}
    bad["projects"].loc[0, "discontinued"] = 2
    write_tables(tmp_path / "broken", bad)
    monkeypatch.setattr(study_module, "bundled_data_dir", lambda: tmp_path)
    with pytest.raises(DataValidationError, match=r"discontinued must be one of"):
        load_dataset("broken")


def test_ids_keep_their_zeros_and_numeric_ids_become_text(tables, tmp_path: Path) -> None:
    projects = tables["projects"].assign(project_id=[f"{i:03d}" for i in range(40)])
    folder = write_tables(tmp_path / "s", {**tables, "projects": projects})
    assert load_study(folder).projects["project_id"].iloc[:2].tolist() == ["000", "001"]
    flat = flatten(tables)
    flat["county_id"] = flat["county_id"].str[1:].astype(float)  # Stata stores codes as numbers
    flat["demand_fit"] = flat["demand_fit"].astype("float64")
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(flat, path)
    assert load_study(path).counties["county_id"].tolist() == ["1", "2", "3", "4"]


def test_required_columns_replace_the_survival_default(tables, tmp_path: Path) -> None:
    """A fit asks for its own outcome columns: a flat table for an ordinal model needs no
    survival columns, and rows without project_id are numbered as the file counts them."""
    flat = flatten(tables).drop(columns=["project_id", "months", "discontinued"])
    path = tmp_path / "ratings.csv"
    flat.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="required column 'months' is missing"):
        load_study(path)
    study = load_study(path, required_columns={"demand_fit": "spec 'x' fits it"})
    assert study.projects["project_id"].tolist() == [str(row) for row in range(2, len(flat) + 2)]
    assert len(study.projects) == len(flat)
    unrated = tmp_path / "unrated.csv"
    flat.drop(columns="demand_fit").to_csv(unrated, index=False)
    with pytest.raises(DataValidationError, match="'demand_fit' is missing: spec 'x' fits it"):
        load_study(unrated, required_columns={"demand_fit": "spec 'x' fits it"})


def test_a_required_codebook_column_is_looked_for_in_its_tables_file(
    tables, tmp_path: Path
) -> None:
    """collaboration is a county column: required, it belongs in counties.csv."""
    required = {"project_id": "ids", "collaboration": "spec 'x' fits it"}
    study = load_study(write_tables(tmp_path / "ok", tables), required_columns=required)
    assert "collaboration" in study.counties.columns
    without = {**tables, "counties": tables["counties"].drop(columns="collaboration")}
    with pytest.raises(DataValidationError, match=r"counties\.csv, column 'collaboration'"):
        load_study(write_tables(tmp_path / "bad", without), required_columns=required)
