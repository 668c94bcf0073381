"""Selecting the top n when the candidates arrive in parts (``query``'s shards): the rule of
``acquisition.select_top`` — the highest scores, ties broken by a uniform random key — with at most
n + one part in memory. Each item's key is drawn with the part that brings it, so the result does not
depend on the order the parts are merged in."""

from __future__ import annotations

import numpy as np


class StreamingTop:
    """``add(scores, keys, **columns)`` part by part; ``top`` holds the n best rows so far, best first."""

    def __init__(self, n: int):
        self.n = n
        self.top: dict[str, np.ndarray] | None = None

    def add(self, scores, keys, **columns) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        if np.isnan(scores).any():
            raise ValueError("acquisition scores contain NaN")
        part = {"scores": scores, "keys": np.asarray(keys, dtype=np.float64), **{k: np.asarray(v) for k, v in columns.items()}}
        both = part if self.top is None else {k: np.concatenate([self.top[k], part[k]]) for k in part}
        keep = np.lexsort((both["keys"], -both["scores"]))[: self.n]
        self.top = {k: v[keep] for k, v in both.items()}
