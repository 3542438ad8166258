"""What the benchmark scripts share: a measurement runs in its own child process, so each
peak of resident memory belongs to one measured call."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

# Before a script imports numpy: grassroots pins OpenBLAS's kernels, so that a benchmark draws
# what `make reproduce` draws, and the children it starts (older trees too) inherit the setting.
import grassroots

REPOSITORY = Path(__file__).resolve().parents[1]


def commit_of(tree: Path) -> str:
    """``git describe --always --dirty`` of a source tree ("" when it is no git checkout)."""
    described = subprocess.run(
        ["git", "-C", str(tree), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return described.stdout.strip()


def measured_commit() -> str:
    """The commit of the grassroots this interpreter imports (``PYTHONPATH`` may point at
    another tree than this script's), or that tree's path when it is no git checkout."""
    source = Path(grassroots.__file__).resolve().parents[2]
    return commit_of(source) or str(source)


def cpu_seconds() -> float:
    """CPU seconds of this process (every thread: nutpie's chains are threads) and its waited-for
    children, user plus system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + children_cpu_seconds()


def children_cpu_seconds() -> float:
    """CPU seconds, user plus system, of this process's waited-for children and their own
    waited-for descendants."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB.

    On Linux VmHWM of /proc/self/status: unlike ``ru_maxrss``, it restarts at ``exec``, so a
    worker does not inherit the peak of the parent that started it.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def run_worker(script: str, kind: str, *args: str) -> dict[str, Any]:
    """Run ``script --worker kind args`` in a new interpreter; return the JSON record it prints
    last."""
    result = subprocess.run(
        [sys.executable, script, "--worker", kind, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} worker failed ({result.returncode}):\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Cross-check of the worker's own VmHWM: the largest peak of any child waited for so far.
    report["children_max_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return report
