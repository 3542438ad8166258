"""Where the package finds its bundled files (codebook, bundled study, templates), and where it
puts fit bundles by default (:func:`fitted_dir`).

The files live once, in the repository's top-level ``data/`` folder. A wheel carries a copy under
``grassroots/_data``; an editable install reads the repository's folder directly.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_data_dir() -> Path:
    """Return the folder that holds ``codebook.csv``, ``synthetic_study/`` and ``templates/``."""
    packaged = _PACKAGE_DIR / "_data"
    if (packaged / "codebook.csv").is_file():
        return packaged
    in_repository = _PACKAGE_DIR.parents[1] / "data"
    if (in_repository / "codebook.csv").is_file():
        return in_repository
    raise FileNotFoundError(
        f"grassroots cannot find its bundled data: neither {packaged} nor {in_repository} holds "
        "codebook.csv. Reinstall the package (pip install grassroots) or run from a clone of the "
        "repository."
    )


def repository_root() -> Path | None:
    """Return the repository root when the package runs from a clone, else ``None``."""
    candidate = _PACKAGE_DIR.parents[1]
    if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "grassroots").is_dir():
        return candidate
    return None


#: The environment variable that moves the default folder of fit bundles (:func:`fitted_dir`).
FITTED_DIR_VARIABLE = "GRASSROOTS_FITTED_DIR"


def fitted_dir(chosen: str | os.PathLike[str] | None = None) -> Path:
    """The folder of fit bundles: ``chosen`` when given, else ``$GRASSROOTS_FITTED_DIR`` when
    set, else ``models/fitted/`` of the current folder.

    The current folder is the user's project (``grassroots fit`` run there, or a script or
    notebook started there), never the installed package or its checkout. ``fit(fitted_dir=...)``
    and ``grassroots fit --fitted-dir`` choose the folder for one call.
    """
    if chosen is not None:
        return Path(chosen)
    configured = os.environ.get(FITTED_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    return Path.cwd() / "models" / "fitted"


def default_reports_dir() -> Path:
    """``reports/`` of the repository when run from a clone, else ``./reports``."""
    root = repository_root()
    return (root / "reports") if root is not None else Path.cwd() / "reports"
