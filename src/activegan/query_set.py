"""``activegan query`` with a strategy that selects a set (``typiclust``, ``probcover``, ``diverse-margin``,
``switch``): the whole pool at once instead of shard by shard."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from activegan import query_history
from activegan.data.user import ImageFormat, ImagePool, Labeled
from activegan.errors import DataError
from activegan.monitor import audit_count, fast_out_of_fold
from activegan.query_outputs import labeled_images, write_outputs, write_skipped


def select_set(cfg, strategy, labeled: Labeled, fmt: ImageFormat, pool: ImagePool, cache_dir,
                progress: bool, t0: float, rescored: str | None) -> dict:
    """A strategy that selects a set (coverage: typiclust, probcover; switch; diverse-margin) sees the whole
    pool at once: every readable pool image is read into memory (N × C × H × W float32), the representation is
    made of the labeled and pool images together (features cached by content), the learner learns from all of
    them, and one round of ``ActiveRound`` asks for n. Nothing is scored shard by shard or resumed midway."""
    from activegan.active import ActiveRound, learner_factory
    from activegan.active.base import pool_probabilities
    from activegan.representation import PoolRepresentation

    ids, images, skipped = [], [], list(pool.unlisted)
    for i in range(pool.n_shards):
        shard_ids, shard_images, shard_skipped = pool.shard(i)
        ids += list(shard_ids)
        images.append(shard_images)
        skipped += shard_skipped
    if not ids:
        write_skipped(Path(cfg.out), skipped)
        raise DataError(f"{cfg.pool}: none of its {len(skipped)} images can be read (the reasons: {Path(cfg.out) / 'skipped.csv'})")
    known = labeled_images(labeled, fmt)
    X = np.concatenate([known, *images]).astype(np.float32, copy=False)
    classes = labeled.classes
    representation = PoolRepresentation(X, cache_dir, features=cfg.features, progress=progress)
    make = learner_factory(cfg.learner, pool=X, n_classes=len(classes), seed=cfg.seed, representation=representation,
                           cache_dir=cache_dir, train=_train_options(cfg))
    al = ActiveRound(X, strategy, make, seed=cfg.seed, representation=representation)
    al.tell(np.arange(len(known)), labeled.y(classes))
    model = al.fit(0)
    t1 = time.perf_counter()
    k = audit_count(cfg.n, cfg.audit)
    chosen = al.ask(cfg.n - k, round_=1)  # none when the audit takes all n
    probs = pool_probabilities(model, X, chosen)
    rows = chosen - len(known)  # positions among the pool's readable images
    keys = query_history.content_keys(X[len(known):])
    top = {"ids": np.asarray(ids, dtype=str)[rows], "scores": np.arange(len(chosen), 0, -1, dtype=np.float64),
           "pred": probs.argmax(axis=1), "prob": probs.max(axis=1, initial=0), "key": keys[rows]}
    share = query_history.share_of(Path(cfg.out), len(ids))
    inside = np.flatnonzero(query_history.in_stop_set(keys, share))
    stop_probs = pool_probabilities(model, X, inside + len(known)) if len(inside) else np.empty((0, len(classes)))
    stop = {"key": keys[inside], "pred": stop_probs.argmax(axis=1), "prob": stop_probs.max(axis=1, initial=0),
            "ids": np.asarray(ids, dtype=str)[inside]}
    top = query_history.with_audit(top, stop, k, cfg.seed, labeled.fingerprint()) if k else top
    timing = {"model_s": t1 - t0, "score_s": time.perf_counter() - t1, "merge_s": 0.0, "shards_scored_now": pool.n_shards}
    sheet = write_outputs(cfg, Path(cfg.out), pool, top, skipped, classes, fmt, timing, rescored)
    known_keys = query_history.content_keys(known)
    uniform = query_history.audit_mask(Path(cfg.out), labeled.fingerprint(), known_keys)  # the labeled images: X's first rows
    oof = fast_out_of_fold(cfg.learner, al.learner, 0, X, np.arange(len(known)), labeled.y(classes), uniform, cfg.seed)
    stopping = query_history.record(Path(cfg.out), labeled.fingerprint(), known_keys, labeled.labels, classes, top, stop,
                                    share, oof)
    return {"scored": pool.n_shards, "queries": len(top["ids"]), "skipped": len(skipped), "excluded": pool.excluded,
            "rescored": rescored, "contact_sheet": sheet, "out": cfg.out, "stopping": stopping, **timing}


def _train_options(cfg):
    from activegan.learners.cnn import TrainOptions

    return TrainOptions(epochs=cfg.epochs)
