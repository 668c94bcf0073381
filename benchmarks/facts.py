"""A headline row and the numbers in it: each number is a ``Fact`` that keeps its value, how it is
written, and where it comes from (a file under the results folder and the key in it), so a test can
look every number up again."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmarks import reporting


NUMBER = re.compile(r"[-+]?\d+(?:,\d{3})*(?:\.\d+)?")


@dataclass
class Fact:
    value: float | int | None
    fmt: str  # a format spec, or "p" for a p-value (reporting.fmt_p)
    source: str  # file, relative to the results folder
    key: tuple  # ("summary", strategy, field[, sub]) | ("paired", strategy, base, stat) | ("json", *path) | ("config", attr) | ...

    def __str__(self) -> str:
        if self.value is None:
            return "–"
        return reporting.fmt_p(self.value) if self.fmt == "p" else format(self.value, self.fmt)


@dataclass
class Row:
    benchmark: str
    link: str
    setting: str
    result: str
    verdict: str
    facts: list[Fact] = field(default_factory=list)

    def cells(self) -> list[str]:
        return [f"[{self.benchmark}]({self.link})", self.setting, self.result, self.verdict]


class Facts(list):
    """Collects the facts a row's text is built from: ``fx(value, fmt, source, *key)`` returns its text."""

    def __call__(self, value, fmt: str, source: str, *key) -> str:
        f = Fact(value, fmt, source, tuple(key))
        self.append(f)
        return str(f)
