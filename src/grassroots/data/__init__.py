"""The data layer: canonical schema, readers, the column mapping, validation and the Study.

>>> from grassroots.data import load_study, load_dataset  # doctest: +SKIP
>>> study = load_study("my_survey/", mapping="my_survey/mapping.toml")  # doctest: +SKIP
"""

from __future__ import annotations

from grassroots.data.identity import data_hash
from grassroots.data.mapping import Mapping, load_mapping
from grassroots.data.readers import read_table, row_number
from grassroots.data.study import Study, load_dataset, load_study
from grassroots.data.validation import DataValidationError, DataValidationWarning

__all__ = [
    "DataValidationError",
    "DataValidationWarning",
    "Mapping",
    "Study",
    "data_hash",
    "load_dataset",
    "load_mapping",
    "load_study",
    "read_table",
    "row_number",
]
