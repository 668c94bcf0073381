"""``activegan features``: a pool's features and ids written once, for reuse (an ``.npz`` with ``features``
(N, D) float32 and ``ids``), cached by content like every run's; unreadable images are listed, not fatal."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from activegan.errors import ConfigError


def add_features_parser(sub) -> None:
    p = sub.add_parser("features", help="compute a pool's representation once and write it (features + ids)",
                       description="Features of a folder of images (recursive), a text file of paths, .npy arrays, or a "
                                   "built-in dataset's pool and test images, written to OUT (.npz: features, ids).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pool", help="a folder of images, a text file of paths, or .npy arrays")
    src.add_argument("--dataset", help="digits, mnist, fashion-mnist or cifar10 (pool and test images)")
    p.add_argument("--data-dir", help="with --dataset: the directory (or archive) holding its files")
    p.add_argument("--out", required=True, help="the .npz file to write (atomically)")
    p.add_argument("--features", default="auto", help="auto, pixels, efficientnet-lite0[@SIZE], efficientnet-lite2[@SIZE], scattering, "
                                                      "torchscript:PATH, onnx:PATH or python:package.module:function")
    p.add_argument("--image-size", type=int, help="with --pool: decode images at this side (default: the backbone's "
                                                 "input size, 64 for pixels)")
    p.add_argument("--grey", action="store_true", help="with --pool: decode as greyscale (default colour)")
    p.add_argument("--cache-dir", help="cache (default $ACTIVEGAN_CACHE or ~/.cache/activegan)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ray", help="compute the chunks not cached yet on this Ray cluster: auto or HOST:PORT (pip install "
                                 "'activegan[ray]'; the cache directory must be reachable from its nodes, as must a "
                                 "torchscript/onnx file; a python: factory must be importable there)")
    p.add_argument("--actors", type=int, default=2, help="with --ray: actors computing chunks, each loading the backbone once (default 2)")


def run_features_command(args) -> int:
    from activegan.data import default_cache_dir
    from activegan.features import check_name
    from activegan.io import atomic_file

    check_name(args.features)
    if args.image_size is not None and args.image_size < 1:
        raise ConfigError("image_size", f"must be at least 1, got {args.image_size}")
    if args.actors < 1:
        raise ConfigError("actors", f"must be at least 1, got {args.actors}")
    if args.ray:
        from activegan.distributed import connect

        connect(args.ray)  # an unreachable cluster is refused before any image is read
    cache = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ConfigError("out", f"{out}: write to a .npz file")
    ids, feats, skipped, name = (_dataset(args, cache) if args.dataset else _pool(args, cache))
    with atomic_file(out) as f:
        np.savez(f, features=feats, ids=np.asarray(ids, dtype=str))
    for id_, why in skipped:
        print(f"activegan: skipped {id_}: {why}", file=sys.stderr)
    print(f"{len(ids)} images, {feats.shape[1]}-d {name} features: {out}")
    return 0


def _dataset(args, cache):
    from activegan.data import load_dataset
    from activegan.features import pool_features, resolve

    data = load_dataset(args.dataset, args.data_dir, cache_dir=cache)
    f = resolve(args.features, data.image_shape)
    actors = _actors(args, f, data.image_shape)
    parts = [pool_features(x, f, cache, progress=not args.no_progress, actors=actors) for x in (data.x_pool, data.x_test)]
    ids = [f"pool:{i}" for i in range(len(data.x_pool))] + [f"test:{i}" for i in range(len(data.x_test))]
    return ids, np.concatenate(parts), [], f.name


def _pool(args, cache):
    from activegan.data.user import ImageFormat, ImagePool
    from activegan.features import DEFAULT_SIZE, pool_features, resolve

    mode = "L" if args.grey else "RGB"
    base = args.features.partition("@")[0]
    size = args.features.partition("@")[2]
    side = args.image_size or (int(size) if size else DEFAULT_SIZE.get(base, DEFAULT_SIZE["efficientnet-lite0"]
                                                                     if base == "auto" and mode == "RGB" else 64))
    pool = ImagePool(args.pool, ImageFormat(mode, side))
    f = resolve(args.features, (1 if args.grey else 3, side, side))
    actors = _actors(args, f, (1 if args.grey else 3, side, side))
    if actors is not None:
        _submit_pool(pool, f, cache, actors, progress=not args.no_progress)
    ids, parts, skipped = [], [], list(pool.unlisted)
    for i in range(pool.n_shards):
        shard_ids, images, bad = pool.shard(i)
        ids += shard_ids
        skipped += bad
        if len(images):
            parts.append(pool_features(images, f, cache, progress=not args.no_progress, actors=actors))
    if not parts:
        raise ConfigError("pool", f"{args.pool}: no readable image")
    return ids, np.concatenate(parts), skipped, f.name


def _actors(args, f, image_shape):
    from activegan.features import chunk_actors

    return None if not args.ray or f.is_pixels else chunk_actors(args.ray, f, image_shape, args.actors)


def _submit_pool(pool, f, cache, actors, progress: bool) -> None:
    """Every shard's missing chunks to the actors, the next shard read while they compute; the loop after
    this reads the shards again and finds their chunks written."""
    from tqdm.auto import tqdm

    from activegan.features import submit_chunks

    bar = tqdm(total=len(pool), desc=f"features on Ray ({f.name})", unit="img", disable=not progress, leave=False)
    todo = 0
    for i in range(pool.n_shards):
        _, images, _ = pool.shard(i)
        if len(images):
            todo += submit_chunks(images, f, cache, actors, on_chunk=bar.update)
    actors.wait()
    bar.close()
    logging.getLogger("activegan").info("features: %d chunks computed on Ray (the others were cached)", todo)
