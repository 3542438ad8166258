"""``grassroots reproduce`` from two source trees, run side by side: wall, CPU, peak memory.

Each run is a child process (``PYTHONPATH=<tree>/src python -m grassroots reproduce``) writing
into a fresh output folder; runs alternate old, new, old, new ... so that the shared machine's
load falls on both alike. Recorded per run: wall seconds, CPU seconds (user + system of the
child and every descendant it waited for), the peak of the *sum* of resident memory over the
whole process tree (sampled every 0.2 s from /proc: reproduce may start worker processes; the
sum of proportional set sizes too, every second, which counts a page shared by a forked child
once), and
the load average at start and end. Every run's output folder must be byte-identical to the first
run's of the same tree; the files that differ between the trees are listed.

Warm (every fit saved, the default) gives each tree its own hard-linked copy of ``--fitted-dir``
and one untimed run in it first, which writes what that tree stores beside the fits (estimands,
prior predictive draws, checked-file records: keyed on the tree's source, so two trees sharing
one folder would replace each other's at every run); ``--cold`` gives every run a new empty
fitted folder::

    nice -n 5 .venv/bin/python benchmarks/reproduce.py --old /work/main --new . \\
        --fitted-dir /work/fitted-warm --repeats 2 --out reports/benchmarks/reproduce_warm.json
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _process import REPOSITORY, children_cpu_seconds, commit_of

SAMPLE_SECONDS = 0.2
PSS_EVERY = 5  # samples: proportional set sizes every second
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _children(pid_of_parent: dict[int, int], root: int) -> set[int]:
    """``root`` and every process descending from it."""
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in pid_of_parent.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def tree_memory_bytes(root: int, *, proportional: bool = True) -> tuple[int, int]:
    """Resident and proportional set size summed over ``root`` and its descendants, now (0 once
    it has exited). A forked child's resident memory counts the pages it still shares with its
    parent again; the proportional size splits each shared page between its processes. Reading
    it walks the page tables (~25 ms for 2 GB): ``proportional=False`` leaves it at 0."""
    parents, resident = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (field 2) may hold spaces: the parent pid follows its ")".
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
        parents[int(entry.name)] = int(stat[1])
        resident[int(entry.name)] = pages * PAGE_BYTES
    tree = _children(parents, root)
    return sum(resident.get(p, 0) for p in tree), sum(_pss_bytes(p) for p in tree if proportional)


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass  # the process ended
    return 0


def run_once(python: str, tree: Path, fitted_dir: Path, out: Path, log: Path) -> dict[str, Any]:
    """One ``reproduce`` from ``tree``'s sources into ``out``; its costs."""
    environment = dict(os.environ, PYTHONPATH=str(tree / "src"))
    command = [
        python,
        "-m",
        "grassroots",
        "reproduce",
        "--fitted-dir",
        str(fitted_dir),
        "--out",
        str(out),
    ]
    load_start = os.getloadavg()[0]
    cpu_start, started = children_cpu_seconds(), time.perf_counter()
    with log.open("w") as stderr:
        child = subprocess.Popen(
            command, env=environment, cwd=tree, stdout=stderr, stderr=subprocess.STDOUT
        )
        peak, peak_pss, finished = 0, 0, threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            for tick in itertools.count():
                if finished.wait(SAMPLE_SECONDS):
                    return
                every = tick % PSS_EVERY == 0
                resident, proportional = tree_memory_bytes(child.pid, proportional=every)
                peak, peak_pss = max(peak, resident), max(peak_pss, proportional)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        finished.set()
        sampler.join()
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(
            f"reproduce from {tree} failed ({code}); see {log}:\n{log.read_text()[-3000:]}"
        )
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(children_cpu_seconds() - cpu_start, 2),
        "peak_tree_rss_mib": round(peak / 2**20, 1),
        "peak_tree_pss_mib": round(peak_pss / 2**20, 1),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def differing_files(first: Path, second: Path) -> list[str]:
    """Relative paths of the files that are not byte-identical (or exist in one folder only)."""
    names = {p.relative_to(first) for p in first.rglob("*") if p.is_file()}
    names |= {p.relative_to(second) for p in second.rglob("*") if p.is_file()}
    return sorted(
        str(name)
        for name in names
        if not (
            (first / name).is_file()
            and (second / name).is_file()
            and filecmp.cmp(first / name, second / name, shallow=False)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="source tree of the old code")
    parser.add_argument("--new", type=Path, default=REPOSITORY, help="source tree of the new")
    parser.add_argument("--fitted-dir", type=Path, help="saved fits, reused (warm)")
    parser.add_argument("--cold", action="store_true", help="a new empty fitted folder a run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each tree")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the runs")
    parser.add_argument(
        "--out", type=Path, default=REPOSITORY / "reports/benchmarks/reproduce.json"
    )
    args = parser.parse_args()
    if args.cold == (args.fitted_dir is not None):
        parser.error("give either --fitted-dir (warm) or --cold")
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    scratch = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    firsts: dict[str, Path] = {}
    runs = []
    fitted_copies: dict[str, Path] = {}
    if not args.cold:
        for code in trees:
            fitted_copies[code] = scratch / f"fitted-{code}"
            subprocess.run(["cp", "-al", str(args.fitted_dir), str(fitted_copies[code])],
                           check=True)  # fmt: skip
        for code, tree in trees.items():
            warm_up = scratch / f"warm-up-{code}"
            run_once(args.python, tree, fitted_copies[code], warm_up, scratch / "warm-up.log")
            shutil.rmtree(warm_up)
    for repeat in range(args.repeats):
        for code, tree in trees.items():
            out = scratch / f"{code}-{repeat}"
            fitted = scratch / f"fitted-{code}-{repeat}" if args.cold else fitted_copies[code]
            record = {
                "code": code,
                "repeat": repeat,
                **run_once(args.python, tree, fitted, out, scratch / f"{out.name}.log"),
            }
            if code in firsts:
                record["differs_from_first"] = differing_files(firsts[code], out)
                shutil.rmtree(out)
            else:
                firsts[code] = out
            if args.cold:
                shutil.rmtree(fitted)
            runs.append(record)
            print(json.dumps(record), flush=True)
    between = differing_files(firsts["old"], firsts["new"])
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "cold" if args.cold else "warm",
        "fitted_dir": None if args.cold else str(args.fitted_dir),
        "trees": {
            code: {"path": str(tree), "commit": commit_of(tree)} for code, tree in trees.items()
        },
        "cpus": os.cpu_count(),
        "runs": runs,
        "output_files": sum(1 for p in firsts["new"].rglob("*") if p.is_file()),
        "every_run_same_bytes_as_its_trees_first": all(
            not r.get("differs_from_first") for r in runs
        ),
        "files_differing_between_trees": between,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for copy in fitted_copies.values():
        shutil.rmtree(copy)
    print(f"{len(between)} files differ between old and new; outputs and logs in {scratch}")


if __name__ == "__main__":
    main()
