"""One credible mass for the whole package: every ``prob`` default of 95% is the one constant
(:data:`grassroots.inference.intervals.DEFAULT_PROB`, re-exported by
:mod:`grassroots.estimands.settings`), never a literal ``0.95`` of its own. (A different mass
on purpose, such as the 90% of a coverage check, stays a literal.)"""

from __future__ import annotations

import ast
from pathlib import Path

from grassroots.estimands import settings
from grassroots.inference import intervals

SRC = Path(__file__).parents[1] / "src" / "grassroots"
def _literal_prob_defaults(path: Path) -> list[int]:
    """Lines of ``prob`` parameters whose default is the package's mass written out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        pairs = list(zip(positional[len(positional) - len(arguments.defaults) :],
                         arguments.defaults, strict=True))  # fmt: skip
        pairs += [(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                  if d is not None]  # fmt: skip
        lines += [
            default.lineno
            for argument, default in pairs
            if argument.arg == "prob"
            and isinstance(default, ast.Constant)
            and default.value == intervals.DEFAULT_PROB
        ]
    return lines


def _offenders() -> dict[str, list[int]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if lines := _literal_prob_defaults(path):
            found[path.relative_to(SRC).as_posix()] = lines
    return found


def test_the_estimands_default_is_the_inference_constant() -> None:
    assert settings.DEFAULT_PROB is intervals.DEFAULT_PROB


def test_no_prob_default_is_a_literal() -> None:
    assert _offenders() == {}, (
        "use DEFAULT_PROB (grassroots.estimands.settings or inference.intervals)"
    )

