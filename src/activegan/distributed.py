"""Ray as the distributed engine (the optional extra ``pip install 'activegan[ray]'``).

- ``connect(address)``: join a running cluster ('auto' or host:port); one ConfigError when Ray is
  missing or the address does not answer.
- ``map_over_actors``: ``query --ray``. The pool's shard numbers become a Ray Dataset; ``map_batches``
  sends them to a pool of CPU actors (``query.ShardScorer``), each holding the model once, scoring a
  shard with the same code as a local query and writing its scores file (so a resumed query skips
  finished shards). A killed actor is restarted and its shard retried; an actor loads the model the
  driver saved (never trains one) and computes with the driver's thread count, so a restarted actor
  scores exactly as the first did, and as a local query does.
- ``ActorQueue``: ``features --ray``. Calls of a CPU actor class's ``compute``, one in flight per actor,
  submitted as actors come free: the arguments (a chunk of images) are sent when a call starts, so the
  object store and this process hold one chunk per actor, never the pool — Ray Data's ``from_items``
  would put every chunk in the object store first. Dead actors are restarted and their call retried.
- ``run_units``: ``run --ray``. Each (strategy, seed) unit is a Ray task running the same
  ``experiment.run_unit`` as a local worker, with the same per-round state files.

The output folder must be reachable by every node (one machine, or a shared filesystem). Ray Data's
way to ask for an actor pool changed between versions (``compute=ActorPoolStrategy`` →
``concurrency=``): ``actor_pool_args`` is the one place that knows.
"""

from __future__ import annotations

import inspect
import re
import socket

from activegan.errors import ConfigError, DataError

INSTALL = "Ray is not installed: pip install 'activegan[ray]'"
RESTARTS = 3  # times a dead actor is restarted, and a task on it retried
_ERROR_NAME = re.compile(r"^[\w.]*Error: ")  # "activegan.errors.ConfigError: " before a message in a traceback


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


class ActorQueue:
    """``actors`` 1-CPU ``actor_cls(**init_kwargs)`` on the cluster at ``address`` (each built once,
    restarted when it dies); ``submit(*args, on_done=f)`` runs ``compute(*args)`` on a free actor,
    waiting for one first, and ``f`` gets its result when it comes back; ``wait()`` waits for all."""

    def __init__(self, address: str, actor_cls, init_kwargs: dict, actors: int):
        self._ray = connect(address)
        remote = self._ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(actor_cls)
        self._idle = [remote.remote(**init_kwargs) for _ in range(actors)]
        self._busy: dict = {}  # call's ref: (actor, on_done)

    def submit(self, *args, on_done=None) -> None:
        while not self._idle:
            self._collect()
        actor = self._idle.pop()
        self._busy[actor.compute.remote(*args)] = (actor, on_done)

    def wait(self) -> None:
        while self._busy:
            self._collect()

    def _collect(self) -> None:
        done, _ = self._ray.wait(list(self._busy), num_returns=1)
        for ref in done:
            actor, on_done = self._busy.pop(ref)
            self._idle.append(actor)
            result = self._get(ref)
            if on_done is not None:
                on_done(result)

    def _get(self, ref):
        """The call's result; the library's own error (a backbone a node cannot load) as one line."""
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return self._ray.get(ref)
        except RayTaskError as e:
            if isinstance(e.cause, (ConfigError, DataError, OSError)):
                raise e.cause from None
            raise
        except RayActorError as e:  # failed in __init__ (its error's last line), or died more than RESTARTS times
            last = [line for line in str(e.error_msg).splitlines() if line.strip()][-1]
            what = "could not start" if e.actor_init_failed else f"died {RESTARTS + 1} times"
            raise DataError(f"a Ray actor {what}: {_ERROR_NAME.sub('', last.strip())[:300]}") from None


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
