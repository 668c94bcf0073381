"""Run ``fn(common, item, report)`` for many items in forked worker processes, or in this one.

Each worker gets ``common`` as an explicit argument (forked, not pickled: a 60 000-image pool
costs nothing to hand over), takes items from a queue, and sends what ``report`` is given back to
the parent, which calls ``on_report`` with it in arrival order. The cores are shared out between
workers, and a worker dies with its parent (kill -9 included) instead of writing behind its back.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod


def run_in_processes(fn, common, items, jobs: int, on_report) -> None:
    """With ``jobs`` > 1, every item runs in a worker with cores ÷ ``jobs`` threads — also when fewer items
    are left than jobs (a resume), so an item computes with the same thread count whatever else remains."""
    items = list(items)
    if jobs <= 1 or not items:
        for item in items:
            fn(common, item, on_report)
        return
    ctx = mp.get_context("fork")
    tasks, reports = ctx.Queue(), ctx.Queue()
    for item in items:
        tasks.put(item)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    workers = min(jobs, len(items))
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(fn, common, tasks, reports, threads), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        _collect(procs, reports, on_report)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _collect(procs, reports, on_report) -> None:
    finished = 0
    while finished < len(procs):
        try:
            kind, payload = reports.get(timeout=0.2)
        except queue_mod.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a worker process died (exit code {dead[0].exitcode})")
            continue
        if kind == "report":
            on_report(payload)
        elif kind == "error":
            raise payload
        else:
            finished += 1


def _worker(fn, common, tasks, reports, threads: int) -> None:
    limit_threads(threads)
    _die_with_parent()
    while (item := tasks.get()) is not None:
        try:
            fn(common, item, lambda payload: reports.put(("report", payload)))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            reports.put(("error", exc if _picklable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")))
            return
    reports.put(("done", None))


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def limit_threads(n: int) -> None:
    """Every thread pool of this process to ``n`` threads, for good: torch's, the OpenMP and BLAS
    runtimes already loaded (through threadpoolctl: scikit-learn's, faiss's, NumPy's and SciPy's
    each bring their own), and, through their environment variables, those loaded later.

    A forked worker inherits its parent's pool sizes (one thread per core). Without this, two
    workers on two cores ran four busy threads, and scikit-learn's KMeans, on leaving its own
    thread limit, restored the inherited size; the demo took three times as long."""
    import torch
    from threadpoolctl import threadpool_limits

    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    torch.set_num_threads(n)
    threadpool_limits(n)


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _picklable(obj) -> bool:
    """Whether an exception survives the queue: it pickles, and its reduction rebuilds it (what the
    parent's unpickling will do; ``deepcopy`` takes the same path without unpickling bytes)."""
    import copy
    import pickle

    try:
        pickle.dumps(obj)
        copy.deepcopy(obj)
        return True
    except Exception:  # noqa: BLE001 - anything that does not round-trip is sent as text
        return False
