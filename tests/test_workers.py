import os

import numpy as np

from activegan.workers import run_in_processes


def _threads_after_kmeans(common, item, report):
    import torch
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_info

    KMeans(3, n_init=1, random_state=0).fit(np.random.default_rng(item).normal(size=(200, 4)))
    report((item, torch.get_num_threads(), max(lib["num_threads"] for lib in threadpool_info()),
            os.environ["OMP_NUM_THREADS"]))


def test_workers_keep_their_share_of_the_cores_after_kmeans():
    # KMeans leaves its own thread limit by restoring the pool size it found: a worker forked from a
    # parent with one thread per core ran twice its share of busy threads after it (the demo: 3x slower).
    share = max(1, (os.cpu_count() or 1) // 2)
    seen = []
    run_in_processes(_threads_after_kmeans, None, [0, 1], 2, seen.append)
    assert sorted(seen) == [(0, share, share, str(share)), (1, share, share, str(share))]


def _threads(common, item, report):
    import torch

    report((item, torch.get_num_threads()))


def test_the_last_item_of_a_parallel_run_keeps_its_share_of_the_cores():
    # A resume with one (strategy, seed) unit left ran it in the parent with every core: its numbers then came
    # from another thread count than the uninterrupted run's. The share follows the jobs asked for.
    import torch

    share, before = max(1, (os.cpu_count() or 1) // 2), torch.get_num_threads()
    torch.set_num_threads(2 * share)  # the parent runs with more threads than a worker's share
    try:
        seen = []
        run_in_processes(_threads, None, [7], 2, seen.append)
    finally:
        torch.set_num_threads(before)
    assert seen == [(7, share)]
