"""ProbCover (active.probcover): the δ-ball graph, the greedy cover and the label-free choice of δ, on
points whose answers can be worked out by hand."""

import numpy as np

from activegan.active.probcover import ProbCover, ball_graph, choose_delta, greedy_cover
from activegan.active.base import RoundView

LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]], dtype=np.float32)


def test_the_ball_graph_holds_exactly_the_pairs_within_delta():
    g = ball_graph(LINE, 1.5, block=2)  # blocks of 2 centres: the blocks must join up
    balls = [sorted(g[i].indices.tolist()) for i in range(len(LINE))]
    assert balls == [[0, 1], [0, 1, 2], [1, 2], [3, 4], [3, 4], [5]]


def test_greedy_cover_takes_the_biggest_uncovered_ball_first_and_skips_what_labels_cover():
    g = ball_graph(LINE, 1.5)
    rng = np.random.default_rng(0)
    chosen = greedy_cover(g, np.zeros(6, bool), np.arange(6), 3, rng)
    assert chosen[0] == 1 and chosen[1] in (3, 4) and chosen[2] == 5  # covers 3, then 2, then 1
    covered = np.zeros(6, bool)
    covered[[0, 1, 2]] = True  # what a label at 1 covers
    chosen = greedy_cover(g, covered, np.array([0, 2, 3, 4, 5]), 2, rng)
    assert chosen[0] in (3, 4) and chosen[1] == 5


def test_delta_is_chosen_below_the_gap_between_two_clusters_without_labels():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 0.1, (200, 2)), rng.normal(5, 0.1, (200, 2))]).astype(np.float32)
    delta = choose_delta(blobs, clusters=2, sample=100)
    assert 0.0 < delta < 4.0  # a ball never reaches the other cluster


def test_probcover_selects_one_point_per_uncovered_cluster_first():
    class Rep:
        coords = np.concatenate([np.random.default_rng(1).normal(c, 0.05, (30, 2)) for c in (0, 3, 6)]).astype(np.float32)

    view = RoundView(None, Rep.coords, np.arange(1, 90), np.array([0]), np.random.default_rng(0), Rep())
    chosen = ProbCover(delta=0.5).select(view, 2)
    assert sorted(c // 30 for c in chosen) == [1, 2]  # the cluster of the label at 0 is covered already
