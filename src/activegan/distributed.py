"""Ray as the distributed engine (the optional extra ``pip install 'activegan[ray]'``).

- ``connect(address)``: join a running cluster ('auto' or host:port); one ConfigError when Ray is
  missing or the address does not answer.
- ``map_over_actors``: ``query --ray``. The pool's shard numbers become a Ray Dataset; ``map_batches``
  sends them to a pool of CPU actors (``query.ShardScorer``), each holding the model once, scoring a
  shard with the same code as a local query and writing its scores file (so a resumed query skips
  finished shards). A killed actor is restarted and its shard retried; an actor loads the model the
  driver saved (never trains one) and computes with the driver's thread count, so a restarted actor
  scores exactly as the first did, and as a local query does.
- ``run_units``: ``run --ray``. Each (strategy, seed) unit is a Ray task running the same
  ``experiment.run_unit`` as a local worker, with the same per-round state files.

The output folder must be reachable by every node (one machine, or a shared filesystem). Ray Data's
way to ask for an actor pool changed between versions (``compute=ActorPoolStrategy`` →
``concurrency=``): ``actor_pool_args`` is the one place that knows.
"""

from __future__ import annotations

import inspect
import socket

from activegan.errors import ConfigError

INSTALL = "Ray is not installed: pip install 'activegan[ray]'"
RESTARTS = 3  # times a dead actor is restarted, and a task on it retried


def require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("ray", INSTALL) from None
    return ray


def connect(address: str):
    """ray.init(address) for a running cluster; the cluster's workers find this package on the path."""
    ray = require_ray()
    host, _, port = address.rpartition(":")
    if address != "auto":
        if not port.isdigit():
            raise ConfigError("ray", f"expected 'auto' or HOST:PORT of a running Ray cluster, got {address!r}")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
        except OSError as e:
            raise ConfigError("ray", f"no Ray cluster answers at {address} ({e.strerror or e})") from None
    if ray.is_initialized():
        if address in ("auto", ray.get_runtime_context().gcs_address):
            return ray
        ray.shutdown()  # joined to another cluster before (in this process): leave it
    try:
        ray.init(address=address, log_to_driver=False, include_dashboard=False,
                 runtime_env={"env_vars": {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}})
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError("ray", f"cannot join the Ray cluster at {address}: {' '.join(str(e).split())[:200]}") from None
    return ray


def actor_pool_args(size: int) -> dict:
    """map_batches' arguments for a pool of ``size`` actors, in this Ray version's spelling."""
    import ray.data

    params = inspect.signature(ray.data.Dataset.map_batches).parameters
    if "concurrency" in params:
        return {"concurrency": size}
    return {"compute": ray.data.ActorPoolStrategy(size=size)}


def map_over_actors(address: str, actor_cls, init_kwargs: dict, items: list[int], actors: int, on_result) -> None:
    """Ray Data: ``items`` (one per block) through ``actor_cls(**init_kwargs)`` on a pool of ``actors``
    1-CPU actors (each built once; a dead one is restarted and its item retried); ``on_result`` gets
    each output row's ``result``."""
    ray = connect(address)
    ds = ray.data.from_items([{"item": i} for i in items], override_num_blocks=max(1, len(items)))
    out = ds.map_batches(actor_cls, batch_size=1, num_cpus=1, fn_constructor_kwargs=init_kwargs,
                         max_restarts=RESTARTS, max_task_retries=RESTARTS, **actor_pool_args(actors))
    for batch in out.iter_batches(batch_size=1, batch_format="numpy"):
        on_result(batch["result"][0])


def run_units(fn, common, units: list, address: str, on_report) -> None:
    """Each unit as a Ray task ``fn(common, unit, report)``; its reports come back when it finishes."""
    ray = connect(address)
    common_ref = ray.put(common)

    @ray.remote(num_cpus=1, max_retries=RESTARTS)
    def unit_task(common, unit):
        from activegan.workers import limit_threads

        limit_threads(1)
        reports = []
        fn(common, unit, reports.append)
        return reports

    pending = {unit_task.remote(common_ref, u): u for u in units}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            pending.pop(ref)
            for payload in ray.get(ref):
                on_report(payload)
