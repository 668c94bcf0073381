"""Ray as the engine, on a real local cluster: two nodes on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
keeps every Ray process on loopback), dashboard off, torn down after. ``query --ray`` ranks as a local
query does, also when an actor is killed mid-scoring (a test-only scorer that dies once); ``run --ray``
gives a local run's curves; ``features --ray`` computes only the chunks not cached, bit for bit as
locally."""

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from activegan.cli import main

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when ray is imported: before it
ray = pytest.importorskip("ray", reason="Ray is not installed here (pip install 'activegan[ray]'); CI installs it")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                      "node_ip_address": "127.0.0.1"})
    c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    c.wait_for_nodes()
    yield c.address
    ray.shutdown()
    c.shutdown()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _query(folders, out, *extra):
    return main(["query", "--strategy", "margin", "--labeled", str(folders / "labeled"), "--pool", str(folders / "pool"), "--out", str(out),
                 "--learner", "cnn", "--epochs", "30", "--shard-size", "40", "-n", "30", "--no-progress", *extra])


class _DiesOnce:
    """Mixed into query.ShardScorer by the test: the first actor to find ``marker`` missing creates it
    and dies mid-scoring, as a node's out-of-memory kill would."""

    marker = ""

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return super().__call__(batch)


def test_query_on_ray_ranks_as_a_local_query_even_when_an_actor_dies(cluster, query_folders, tmp_path, monkeypatch):
    import activegan.query
    from activegan.query import QueryConfig, ShardScorer, run_query

    assert _query(query_folders, tmp_path / "local") == 0
    assert _query(query_folders, tmp_path / "ray", "--ray", cluster) == 0
    assert ray.cluster_resources().get("CPU") == 2  # both nodes joined
    local = _rows(tmp_path / "local" / "queries.csv")
    assert _rows(tmp_path / "ray" / "queries.csv") == local
    assert _rows(tmp_path / "ray" / "skipped.csv") == _rows(tmp_path / "local" / "skipped.csv")
    died = tmp_path / "died"
    dies_once = type("DiesOnce", (_DiesOnce, ShardScorer), {"marker": str(died)})
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    monkeypatch.setattr(activegan.query, "ShardScorer", dies_once)
    cfg = QueryConfig(strategy="margin", labeled=str(query_folders / "labeled"), pool=str(query_folders / "pool"), out=str(tmp_path / "killed"),
                      learner="cnn", epochs=30, shard_size=40, n=30, ray=cluster)
    run_query(cfg)
    assert died.exists()  # an actor was killed mid-scoring, restarted, and its shard scored again
    assert _rows(tmp_path / "killed" / "queries.csv") == local


def test_an_actor_scores_with_the_drivers_thread_count(query_folders, tmp_path, monkeypatch):
    """BLAS, faiss and torch sum in a thread-dependent order: an actor (first or restarted) computes as
    the driver does, not with one thread."""
    import torch

    import activegan.workers
    from activegan.query import QueryConfig, ShardScorer, run_query, scorer_args

    cfg = QueryConfig(strategy="margin", labeled=str(query_folders / "labeled"), pool=str(query_folders / "pool"), out=str(tmp_path / "o"),
                      learner="cnn", epochs=30, shard_size=40, n=30)
    run_query(cfg)
    before = torch.get_num_threads()
    threads = []
    monkeypatch.setattr(activegan.workers, "limit_threads", threads.append)  # this process's pools stay as they are
    try:
        torch.set_num_threads(3)
        ShardScorer(**scorer_args(cfg, None))
    finally:
        torch.set_num_threads(before)
    assert threads == [3]


def test_no_test_hook_kills_a_process_in_the_library():
    src = Path(__file__).parents[1] / "src" / "activegan"
    assert not [p for p in src.rglob("*.py") if "os._exit" in p.read_text(encoding="utf-8")]


def test_run_on_ray_gives_the_curves_of_a_local_run(cluster, tmp_path):
    args = ["run", "--strategies", "random,margin", "--seeds", "2", "--budgets", "10,15,20", "--learner", "cnn",
            "--initial-strategy", "random", "--steps", "20", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "local"), "--jobs", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "ray"), "--ray", cluster]) == 0
    strip = lambda rows: [(r["strategy"], r["seed"], r["round"], r["n_labeled"], r["accuracy"]) for r in rows]  # noqa: E731
    assert sorted(strip(_rows(tmp_path / "ray" / "curves.csv"))) == sorted(strip(_rows(tmp_path / "local" / "curves.csv")))


def test_an_unreachable_ray_address_gets_one_line_and_exit_2(query_folders, tmp_path, capsys):
    assert _query(query_folders, tmp_path / "o", "--ray", "127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert "no Ray cluster answers at 127.0.0.1:9" in err and err.count("\n") == 1


class _PlaneMeans(torch.nn.Module):
    """A fixed linear map: each colour plane's mean, and twice it (of the ImageNet-normalised image)."""

    def forward(self, x):
        m = x.mean(dim=(2, 3))
        return torch.cat([m, 2 * m], dim=1)


class _Refuses:
    """A backbone with another's key that must not be asked: the cache already holds its features."""

    def __init__(self, key):
        self.key = key

    def __call__(self, batch):
        raise AssertionError("computed a chunk the cache holds")


class _DiesOnceComputing:
    """Mixed into features.ChunkWorker by the test: the first actor to find ``marker`` missing dies mid-chunk."""

    marker = ""

    def compute(self, path, images):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return super().compute(path, images)


@pytest.fixture(scope="module")
def plane_pool(tmp_path_factory):
    """64 colour 8 × 8 images (4 chunks of 16), a saved TorchScript backbone, and its features by hand."""
    d = tmp_path_factory.mktemp("plane_pool")
    x = np.random.default_rng(0).random((64, 3, 8, 8), dtype=np.float32)
    torch.jit.script(_PlaneMeans()).save(str(d / "net.pt"))
    np.save(d / "pool.npy", x)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    m = (x.mean(axis=(2, 3)) - mean) / std
    return d, x, np.concatenate([m, 2 * m], axis=1)


def test_features_on_ray_are_a_local_runs_and_only_missing_chunks_are_computed(cluster, plane_pool, tmp_path):
    from activegan.features import Features, chunk_actors, pool_features, resolve, submit_chunks

    d, x, by_hand = plane_pool
    f = resolve(f"torchscript:{d / 'net.pt'}", (3, 8, 8))
    local = pool_features(x, f, tmp_path / "local", chunk=16)
    assert np.allclose(local, by_hand, atol=1e-5)
    actors = chunk_actors(cluster, f, (3, 8, 8), 2)
    written = []
    assert submit_chunks(x, f, tmp_path / "ray", actors, chunk=16, on_chunk=written.append) == 4
    actors.wait()
    assert written == [16] * 4
    chunks = sorted((tmp_path / "ray").glob("features-*.partial/*.npy"))
    assert len(chunks) == 4
    for p in chunks[1:3]:  # what a driver killed before these two were written leaves
        p.unlink()
    assert submit_chunks(x, f, tmp_path / "ray", actors, chunk=16, on_chunk=written.append) == 2
    actors.wait()
    assert written == [16] * 6
    # A local run assembles the Ray-written chunks and computes none: the same bytes as its own.
    assert np.array_equal(pool_features(x, Features(f.name, _Refuses(f.key)), tmp_path / "ray", chunk=16), local)
    assert np.array_equal(pool_features(x, f, tmp_path / "ray2", chunk=16, actors=actors), local)  # all on Ray


def test_a_chunk_whose_actor_dies_is_computed_again_by_the_restarted_actor(cluster, plane_pool, tmp_path):
    from activegan.distributed import ActorQueue
    from activegan.features import ChunkWorker, pool_features, resolve, worker_args

    d, x, by_hand = plane_pool
    f = resolve(f"torchscript:{d / 'net.pt'}", (3, 8, 8))
    died = tmp_path / "died"
    dies_once = type("DiesOnce", (_DiesOnceComputing, ChunkWorker), {"marker": str(died)})
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    actors = ActorQueue(cluster, dies_once, worker_args(f, (3, 8, 8)), 2)
    out = pool_features(x, f, tmp_path / "cache", chunk=16, actors=actors)
    assert died.exists()
    assert np.array_equal(out, pool_features(x, f, tmp_path / "local", chunk=16))


def test_the_features_command_on_ray_writes_what_it_writes_locally(cluster, plane_pool, tmp_path, monkeypatch, capsys):
    import activegan.features

    monkeypatch.setattr(activegan.features, "CHUNK", 16)
    d, _, by_hand = plane_pool
    args = ["features", "--pool", str(d / "pool.npy"), "--features", f"torchscript:{d / 'net.pt'}", "--image-size", "8", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "ray.npz"), "--cache-dir", str(tmp_path / "c"), "--ray", cluster]) == 0
    assert main([*args, "--out", str(tmp_path / "local.npz"), "--cache-dir", str(tmp_path / "c2")]) == 0
    with np.load(tmp_path / "ray.npz") as r, np.load(tmp_path / "local.npz") as loc:
        assert np.array_equal(r["features"], loc["features"]) and list(r["ids"]) == list(loc["ids"])
        assert np.allclose(r["features"], by_hand, atol=1e-5)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "o.npz"), "--ray", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "no Ray cluster answers at 127.0.0.1:9" in err and err.count("\n") == 1
