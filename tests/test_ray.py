"""Ray as the engine, on a real local cluster: two nodes on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
keeps every Ray process on loopback), dashboard off, torn down after. ``query --ray`` ranks as a local
query does, also when an actor is killed mid-scoring (a test-only scorer that dies once); ``run --ray``
gives a local run's curves."""

import csv
import os
import sys
from pathlib import Path

import pytest

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
