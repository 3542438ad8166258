"""House style of the Chinese text the package writes, checked: what a Chinese
public-administration journal's copy-editor would send back.

Three rules, each a function of one string:

``punctuation``
    Chinese prose takes full-width punctuation (GB/T 15834-2011): ，。：；（）“”、 and not
    ``, . : ; ( ) "``. A half-width mark counts as prose punctuation when it touches Chinese (a
    space between does not matter), when ``, ; :`` ends a clause (a space or the end follows), or
    for ``"`` anywhere. Latin notation keeps its own marks: a formula such as ``S(12)``,
    ``P(>=4)``, ``Pr(Δ > 0)`` or ``Normal(μ=0, σ=1)``, a number such as ``1.01`` or ``2,694``,
    and the square brackets of an interval ``[95% 可信区间]``.
``latin``
    No English left in Chinese text, except :data:`ALLOWED_LATIN`: notation and abbreviations
    that Chinese statistics writing keeps in Latin (model codes M0-M4, R-hat, ESS, LOO, HR, CrI,
    logit, ...), names of methods, authors cited and software, single letters of formulae (N,
    S(t), P, E), appendix table numbers (附表B1) and the prior families of
    :func:`~grassroots.reporting.model_priors.format_prior`. Names the package writes for
    models and outcomes are not on the list: they get Chinese labels
    (:func:`~grassroots.reporting.labels.model_label`, the codebook).
``term``
    Established academic terms (:data:`PREFERRED_TERMS`): 风险比 not 危险比, 可信区间 not
    信用区间, 随机效应 not 随机效果, ...

:func:`check_zh` checks one string; :func:`check_table` every string of a
:class:`~grassroots.reporting.tables.Table`; :func:`check_markdown` a written ``*_zh.md`` table.
Each returns :class:`StyleProblem` records naming where the text came from, so that a test can
print them and a fix goes to the string's one home (:mod:`~grassroots.reporting.labels`,
``models/theory.toml``, the codebook).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grassroots.reporting.tables import Table

__all__ = [
    "ALLOWED_LATIN",
    "PREFERRED_TERMS",
    "StyleProblem",
    "check_markdown",
    "check_table",
    "check_texts",
    "check_zh",
]

#: Latin words that may stand in Chinese text, compared case-sensitively: abbreviations and
#: notation that the Chinese statistics literature writes in Latin, the names of methods and
#: software, and the prior families printed by ``format_prior``.
ALLOWED_LATIN: frozenset[str] = frozenset(
    {
        # Model codes and notation of the paper.
        *(f"M{k}" for k in range(5)),
        "M0–M4", "M1–M4",
        "R-hat", "ESS", "bulk-ESS", "tail-ESS", "E-BFMI", "LOO", "PSIS", "elpd", "WAIC",
        "HR", "OR", "RR", "CrI", "CI", "SD", "SE", "logit", "Pr", "Δ",
        "PSIS-LOO", "elpd_loo", "logistic",
        # bulk-ESS and tail-ESS (Vehtari et al. 2021), also written "bulk 与 tail ESS".
        "bulk", "tail",
        # Functions inside formulae.
        "exp", "log", "sqrt", "var", "sd",
        # Named methods, distributions, authors cited and software.
        "Kaplan", "Meier", "Kaplan–Meier", "Cox", "Wald", "Dirichlet", "NUTS", "LKJ",
        "Delta", "Pareto", "Vehtari", "VanderWeele", "Ding", "Betancourt", "Makowski", "Gelman",
        "Yao", "Weibull",
        "nutpie", "PyMC", "ArviZ", "arviz_stats", "arviz_stats.compare", "lifelines",
        "CoxPHFitter", "statsmodels", "PHReg", "OrderedModel", "Logit", "CSV",
        # Prior families (format_prior) and their parameters.
        "Normal", "HalfNormal", "HalfStudentT", "StudentT", "Exponential", "Gamma", "Beta",
        "LogNormal", "Cauchy", "HalfCauchy", "Uniform", "InducedDirichlet", "rstanarm",
    }
)  # fmt: skip

#: Discouraged term -> the established one.
PREFERRED_TERMS: dict[str, str] = {
    "危险比": "风险比",
    "危害比": "风险比",
    "信用区间": "可信区间",
    "可靠区间": "可信区间",
    "置信域": "可信区间",
    "随机效果": "随机效应",
    "固定效果": "固定效应",
    "存活分析": "生存分析",
    "生存率分析": "生存分析",
    "中介作用效应": "中介效应",
    "后验平均": "后验均值",
    "后验平均值": "后验均值",
    "几率比": "比值比",
    "有序逻辑": "有序 logit",
    "有序逻辑斯蒂": "有序 logit",
    "序数 logit": "有序 logit",
}

_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_HAS_CJK = re.compile(f"[{_CJK}]")
# Latin notation that keeps its own punctuation: a function-like token whose parentheses hold
# no Chinese (S(12), P(>=4), Pr(Δ > 0), Normal(μ=0, σ=1), S(t)), then numbers with a point or
# a thousands comma.
_FORMULA = re.compile(
    rf"[A-Za-zΔ√][\w\-]*\((?:[^()\n{_CJK}]|\([^()\n{_CJK}]*\))*\)|\b(?:P|Pr|S|E)\([^()\n]*\)"
)
_NUMBER = re.compile(r"\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+")
# A closed interval of numbers, [0, 100]: notation, whose comma stays half-width.
_INTERVAL = re.compile(r"\[-?[\d.]+, -?[\d.]+\]")
# A str.format placeholder of a template in labels.TEXT: filled in later, not text.
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[-–.][A-Za-z0-9_]+)*")
# Numbers of appendix tables and figures: 附表B1, 表5a.
_TABLE_NUMBER = re.compile(r"[A-C]\d[a-z]?")
_PROSE_MARKS = ',.:;()"'
_FULL_WIDTH = {",": "，", ".": "。", ":": "：", ";": "；", "(": "（", ")": "）", '"': "“”"}


@dataclass(frozen=True)
class StyleProblem:
    """One offence: where the text came from, where in it, the text, the rule and the fix."""

    source: str
    location: str
    text: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.source} [{self.location}] {self.rule}: {self.detail} in {self.text!r}"


def _masked(text: str) -> str:
    """``text`` with formulae and numbers blanked out (same length), so their marks pass."""
    for pattern in (_PLACEHOLDER, _FORMULA, _INTERVAL, _NUMBER):
        text = pattern.sub(lambda match: "x" * len(match.group()), text)
    return text


def _neighbour(text: str, index: int, step: int) -> str:
    index += step
    while 0 <= index < len(text) and text[index] == " ":
        index += step
    return text[index] if 0 <= index < len(text) else ""


def _punctuation(text: str) -> list[str]:
    masked = _masked(text)
    found = []
    for index, mark in enumerate(masked):
        if mark not in _PROSE_MARKS:
            continue
        before, after = _neighbour(masked, index, -1), _neighbour(masked, index, 1)
        touches_chinese = bool(_HAS_CJK.match(before) or _HAS_CJK.match(after))
        ends_clause = mark in ",;:" and masked[index + 1 : index + 2] in ("", " ")
        ends_sentence = mark == "." and index == len(masked) - 1
        if mark == '"' or touches_chinese or ends_clause or ends_sentence:
            found.append(f"half-width {mark!r} at {index}: use {_FULL_WIDTH[mark]}")
    return found


def _latin(text: str) -> list[str]:
    bare = _FORMULA.sub(lambda m: m.group().split("(")[0], _PLACEHOLDER.sub("", text))
    words = _LATIN_WORD.findall(bare)
    return [
        f"English {word!r}: translate it, or add it to ALLOWED_LATIN if the field writes it so"
        for word in dict.fromkeys(words)
        if len(word) > 1 and word not in ALLOWED_LATIN and not _TABLE_NUMBER.fullmatch(word)
    ]


def _terms(text: str) -> list[str]:
    return [
        f"{term!r}: the established term is {preferred!r}"
        for term, preferred in PREFERRED_TERMS.items()
        if term in text
    ]


def check_zh(text: str, *, source: str, location: str = "") -> list[StyleProblem]:
    """Every offence against the house style in one Chinese string.

    A string without any Chinese character is notation (``M4``, ``0.82 [0.71, 0.95]``) and
    passes.

    Examples
    --------
    >>> [p.rule for p in check_zh("风险比 (对数刻度)", source="labels")]
    ['punctuation', 'punctuation']
    >>> check_zh("S(12)：12 个月时仍在运行，最大 R-hat 为 1.01。", source="labels")
    []
    """
    if not _HAS_CJK.search(text):
        return []
    rules = {"punctuation": _punctuation, "latin": _latin, "term": _terms}
    return [
        StyleProblem(source, location, text, rule, detail)
        for rule, find in rules.items()
        for detail in find(text)
    ]


def check_texts(texts: Iterable[tuple[str, str, str]]) -> list[StyleProblem]:
    """:func:`check_zh` over ``(source, location, text)`` triples."""
    return [
        problem
        for source, location, text in texts
        for problem in check_zh(text, source=source, location=location)
    ]


def _cell_texts(table: Table) -> Iterable[tuple[str, str]]:
    yield "title", table.title
    yield "note", table.note
    for k, flag in enumerate(table.flags):
        yield f"flag {k}", flag
    for column in table.frame.columns:
        for level in column if isinstance(column, tuple) else (column,):
            yield "column header", str(level)
    for name in table.frame.index.names:
        if name is not None and name == table.panel:
            for panel in dict.fromkeys(table.frame.index.get_level_values(name)):
                yield "panel", str(panel)
    for row, values in enumerate(table.frame.itertuples(index=False)):
        for column, value in zip(table.frame.columns, values, strict=True):
            if isinstance(value, str):
                yield f"row {row}, column {column!r}", value


def check_table(table: Table) -> list[StyleProblem]:
    """Every offence in a Chinese table's title, note, flags, headers, panels and cells."""
    return check_texts(
        (f"table {table.name}", location, text) for location, text in _cell_texts(table)
    )


def check_markdown(path: str | Path) -> list[StyleProblem]:
    """Every offence in a written Chinese Markdown table (``reports/tables/*_zh.md``), line by
    line; a table row is checked cell by cell, so that ``|`` separators do not count."""
    path = Path(path)
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if set(stripped) <= set("|:- "):
            continue
        if stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            texts += [(str(path), f"line {number}, cell {k + 1}", c) for k, c in enumerate(cells)]
        else:
            texts.append((str(path), f"line {number}", stripped.strip("*_ ")))
    return check_texts(texts)
