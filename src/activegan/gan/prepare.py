"""The DCGANs of an experiment's gan-* strategies, made before the loop: one per dataset and seed,
trained once into the cache (or one given checkpoint for every seed), and the privileged model
oracle (the reference classifier of ``gan.judge``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from activegan.errors import DataError
from activegan.workers import run_in_processes


def gan_config(opts, data, seed: int):
    """The DCGAN config of an experiment's GAN options for one seed."""
    from activegan.gan import GanConfig, default_image_size

    epochs = opts.epochs if opts.epochs is not None else (20 if data.name == "digits" else 5)
    return GanConfig(
        image_size=default_image_size(data.image_shape), channels=data.image_shape[0], ngf=opts.ngf, ndf=opts.ndf,
        epochs=epochs, seed=seed, dataset=data.name,
        # The 1 297 digits: batch 64 keeps the demo's DCGANs short (16 is the default for MNIST's samples).
        **({"batch_size": 64} if data.name == "digits" else {}),
    )


def gan_checkpoint(data, opts, seed: int, cache_dir) -> Path:
    """The DCGAN of this pool, GAN options and seed: trained once into the cache (resumed if cut short)."""
    from activegan.gan import CHECKPOINT, train_gan
    from activegan.gan.judge import pool_hash

    gcfg = gan_config(opts, data, seed)
    described = {k: v for k, v in dataclasses.asdict(gcfg).items() if k != "device"}
    key = hashlib.sha1(json.dumps([pool_hash(data.x_pool, data.y_pool), described], sort_keys=True).encode()).hexdigest()[:16]
    out = Path(cache_dir) / "gan" / key
    return train_gan(data.x_pool, gcfg, out, resume=(out / CHECKPOINT).is_file(), progress=False)


def check_gan_checkpoint(path, data) -> None:
    """DataError unless ``path`` is a DCGAN checkpoint whose images have the pool's channels."""
    from activegan.gan import read_checkpoint

    gcfg = read_checkpoint(path)["config"]
    if gcfg.channels != data.image_shape[0]:
        raise DataError(f"{path}: the generator makes {gcfg.channels}-channel images, the {data.name} pool has "
                        f"{data.image_shape[0]}")


def _prepare_one(common, task, report) -> None:
    opts, data, cache = common
    if task == "reference":
        from activegan.gan.judge import reference_classifier

        reference_classifier(data, cache)
    else:
        report((task, gan_checkpoint(data, opts, task, cache)))


def prepare_gans(opts, data, seeds, reference: bool, jobs: int, cache: Path) -> dict:
    """seed → checkpoint path; the reference classifier is trained into the cache too when asked."""
    tasks = [*([] if opts.checkpoint else seeds), *(["reference"] if reference else [])]
    paths: dict = {}
    run_in_processes(_prepare_one, (opts, data, cache), tasks, jobs, lambda item: paths.__setitem__(*item))
    if opts.checkpoint:
        return {seed: Path(opts.checkpoint) for seed in seeds}
    return paths


def gan_queries(path, oracle: str, opts, data, cache):
    """GanQueries for one seed's generator, with the privileged reference classifier for ``model``."""
    from activegan.gan import load_checkpoint
    from activegan.gan.queries import GanQueries, QueryOptions

    G, D, gcfg, _ = load_checkpoint(path)
    reference = None
    if oracle == "model":
        from activegan.gan.judge import reference_classifier

        reference = reference_classifier(data, cache)  # from the cache: trained before the loop
    query_opts = QueryOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(QueryOptions)})
    return GanQueries(G, gcfg.image_size, oracle, query_opts, opts.match_features, opts.model_threshold, D, reference)
