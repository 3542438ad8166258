"""The one way the package reaches Dask: a client of an existing scheduler, or of a local
cluster of single-threaded worker processes (``dask[distributed]``, the ``validation`` extra)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a new ``LocalCluster`` of ``workers``
    processes with one thread each (a fit or a simulation is one task; NUTS chains bring their
    own threads).

    Raises
    ------
    ImportError
        With the install hint, when ``dask.distributed`` is missing.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as error:  # pragma: no cover - the venv installs the extra
        raise ImportError(
            "running on Dask needs dask[distributed]: pip install 'grassroots[validation]'"
        ) from error
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
