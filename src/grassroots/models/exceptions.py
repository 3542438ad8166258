"""Domain exceptions of the model layer; messages name the spec file, key or column at fault."""

from __future__ import annotations


class SpecError(ValueError):
    """A model spec (``models/*.toml``) is malformed: the message names the file and the key."""


class ModelDataError(ValueError):
    """The data do not fit the spec: a column is missing, has the wrong type or has bad values."""
