"""Where the package finds its bundled files (codebook, bundled study, templates).

The files live once, in the repository's top-level ``data/`` folder. A wheel carries a copy under
``grassroots/_data``; an editable install reads the repository's folder directly.
"""

from __future__ import annotations

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


def default_reports_dir() -> Path:
    """``reports/`` of the repository when run from a clone, else ``./reports``."""
    root = repository_root()
    return (root / "reports") if root is not None else Path.cwd() / "reports"
