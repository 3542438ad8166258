"""The data hash: one function that says whether two data sets are the same data.

A fit bundle records the hash of the data it was fitted to; :func:`data_hash` is how every part
of the package computes it (``fit()``, ``Fit.load(data=...)``, ``Study.data_hash()``, the
reports' provenance). Two kinds of input, two serialisations, each fixed since bundles were
first written (changing either would orphan every saved bundle):

* a :class:`~grassroots.data.study.Study` (anything with ``.flat()``): a canonical
  serialisation of its flat table, stable across runs, machines and input formats: codebook
  columns in codebook order, then the user's own columns sorted by name; numbers as
  little-endian float64 (so 3 and 3.0 agree), dates as nanoseconds, text as UTF-8;
* a pandas DataFrame: its column names and dtypes, then pandas' own hash of every row
  (``pandas.util.hash_pandas_object``), so that a table of any columns has a hash.

Row order counts in both. A study and its flat table hash differently: the study's hash does
not depend on dtypes that a file format chose.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from grassroots.data import schema

__all__ = ["CANONICAL_ORDER", "HasFlatTable", "data_hash"]

#: The codebook's columns in the order a study's flat table (and its hash) puts them.
CANONICAL_ORDER: list[str] = ["project_id", "township_id", "county_id"] + [
    c for c in schema.canonical_columns() if c not in schema.ID_COLUMN.values()
]


@runtime_checkable
class HasFlatTable(Protocol):
    """A study: anything with a flat, project-level table."""

    def flat(self) -> pd.DataFrame: ...


def data_hash(data: pd.DataFrame | HasFlatTable) -> str:
    """SHA-256 (hex) of a DataFrame or of a study's flat table (see the module's docstring).

    Raises
    ------
    TypeError
        When ``data`` is neither a DataFrame nor has ``.flat()``.

    Examples
    --------
    >>> data_hash(pd.DataFrame({"a": [1, 2]})) == data_hash(pd.DataFrame({"a": [1, 2]}))
    True
    """
    if isinstance(data, pd.DataFrame):
        return _frame_hash(data)
    if isinstance(data, HasFlatTable):
        return _study_hash(data.flat())
    raise TypeError(
        f"data_hash takes a pandas DataFrame or a study (an object with .flat()), not "
        f"{type(data).__name__}"
    )


def _frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode()
    )
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _study_hash(frame: pd.DataFrame) -> str:
    canonical = [c for c in CANONICAL_ORDER if c in frame.columns]
    own = sorted(c for c in frame.columns if c not in set(canonical))
    digest = hashlib.sha256()
    digest.update(f"grassroots-study-v1\x1e{len(frame)}\x1e".encode())
    for column in canonical + own:
        digest.update(str(column).encode("utf-8") + b"\x1d")
        digest.update(_serialise(frame[column]))
    return digest.hexdigest()


def _serialise(column: pd.Series) -> bytes:
    if isinstance(column.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(column.dtype)
        or pd.api.types.is_datetime64_any_dtype(column.dtype)
    ):
        missing = column.isna().to_numpy()
        text = column.astype(object).astype(str).to_numpy()
        text[missing] = "\x1b"  # a missing cell, distinct from any text in a data file
        return b"T" + "\x1f".join(text).encode("utf-8") + b"\x1e"
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.astype("datetime64[ns]").to_numpy().view("int64")
        return b"D" + values.astype("<i8").tobytes()
    values = column.astype("float64").to_numpy(na_value=np.nan) + 0.0  # -0.0 -> 0.0
    values[np.isnan(values)] = np.nan  # one NaN bit pattern
    return b"N" + values.astype("<f8").tobytes()
