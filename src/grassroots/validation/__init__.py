"""Validation of the package's inference on simulated data.

:mod:`grassroots.validation.sbc` is simulation-based calibration of the model families. The
submodules need the ``validation`` extra (``simuk``, ``dask[distributed]``); nothing is imported
here, so that each submodule loads only what it uses.
"""
