"""GAN-generated queries: generation, refinement, the match and model oracles, the loop, measures."""

import csv
import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from activegan import acquisition
from activegan.cli import main
from activegan.errors import ConfigError, DataError
from activegan.experiment import run_experiment
from activegan.gan import GanConfig, load_checkpoint, train_gan
from activegan.gan.judge import class_coverage, frechet_distance, recognisability
from activegan.gan.queries import GanQueries, QueryOptions, generate_queries, label_by_model, match_to_pool, refine
from activegan.loop import ExperimentConfig, GanOptions, TrainOptions, run_strategy
from activegan.models import CNNClassifier
from activegan.active.strategies import Entropy, Margin, make_strategy


def opts(m, dedup=0.98, refine_steps=0):
    return QueryOptions(candidates=m, dedup=dedup, refine_steps=refine_steps)


def rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def gan_path(small_digits, tmp_path_factory):
    """A DCGAN checkpoint for the commands: one epoch, so its images are all alike."""
    out = tmp_path_factory.mktemp("gan")
    return train_gan(small_digits.x_pool, GanConfig(image_size=8, ngf=8, ndf=8, epochs=1, batch_size=32), out, progress=False)


@pytest.fixture(scope="module")
def G():
    """A generator that needs no training yet varies with z: z → linear 8 x 8 map → tanh.

    (A DCGAN trained for seconds has collapsed to near-identical images.) Pixel cosine
    similarities between its images: median 0.84, max 0.94 over 300.
    """
    torch.manual_seed(0)
    G = nn.Sequential(nn.ConvTranspose2d(100, 1, 8, 1, 0), nn.Tanh())
    nn.init.normal_(G[0].weight, 0, 0.1)
    return G.eval()


@pytest.fixture(scope="module")
def classifier(small_digits):
    return CNNClassifier(n_classes=10, steps=60, random_state=0).fit(small_digits.x_pool[:30], small_digits.y_pool[:30])


# --- generation --------------------------------------------------------------------------------


def pixel_cosines(images):
    u = images.reshape(len(images), -1)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    return (u @ u.T)[~np.eye(len(u), dtype=bool)]


def test_generated_queries_are_n_distinct_images_ranked_by_score(G, classifier):
    q = generate_queries(G, classifier, Entropy(), 8, rng(0), pool=None, opts=opts(300, 0.85))
    assert q.images.shape == (8, 1, 8, 8) and q.z.shape == (8, 100)
    assert np.all(np.diff(q.scores) <= 0)  # best first
    assert q.scores == pytest.approx(acquisition.entropy(classifier.predict_proba(q.images)), abs=1e-5)
    assert pixel_cosines(q.images).max() <= 0.85
    # Without skipping, the same draw gives the plain top 8: the same best, but near-duplicates among them.
    top = generate_queries(G, classifier, Entropy(), 8, rng(0), pool=None, opts=opts(300, 1.0))
    assert q.scores[0] == top.scores[0] and pixel_cosines(top.images).max() > 0.85
    assert np.all(top.scores >= q.scores)


def test_a_collapsed_generator_still_gives_n_images_with_a_warning(G, classifier):
    # A threshold below any pair's similarity keeps only the best image, then duplicates fill in.
    with pytest.warns(RuntimeWarning, match="near-duplicates"):
        q = generate_queries(G, classifier, Margin(), 3, rng(1), pool=None, opts=opts(50, -1.0))
    assert len(q.images) == 3 and np.all(np.diff(q.scores) <= 0)


def test_refinement_keeps_z_in_range_and_never_lowers_a_score(G, classifier):
    z0 = torch.rand(20, 100, 1, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        before = acquisition.margin(classifier.predict_proba(((G(z0) + 1) / 2).numpy()))
    z, score = refine(G, classifier, Margin(), z0, steps=5, step_size=0.5)
    assert z.min() >= -1 and z.max() <= 1
    assert (z.abs() == 1).any()  # steps of 0.5 from U(-1, 1) hit the bounds: the clamp acted
    with torch.inference_mode():
        after = acquisition.margin(classifier.predict_proba(((G(z) + 1) / 2).numpy()))
    assert after == pytest.approx(score.numpy(), abs=1e-5)
    assert np.all(after >= before - 1e-6) and after.mean() > before.mean()


def test_refined_batch_scores_at_least_as_high_as_the_unrefined_one(G, classifier):
    plain = generate_queries(G, classifier, Entropy(), 5, rng(2), pool=None, opts=opts(100, 1.0))
    refined = generate_queries(G, classifier, Entropy(), 5, rng(2), pool=None, opts=opts(100, 1.0, refine_steps=3))
    assert np.all(refined.z >= -1) and np.all(refined.z <= 1)
    assert refined.scores.mean() >= plain.scores.mean() - 1e-6


# --- oracles -----------------------------------------------------------------------------------


def test_match_takes_the_nearest_unlabeled_pool_image_and_never_twice():
    pool = np.array([[1, 0], [0.95, 0.31], [0.8, 0.6], [0, 1], [-1, 0], [0.6, 0.8]], dtype=np.float32)
    unlabeled = np.array([0, 2, 3, 5])  # 1 and 4 are labeled
    queries = np.array([[0.96, 0.28], [0.96, 0.28], [0.8, 0.6]], dtype=np.float32)
    # q1 is closest to labeled 1 → unlabeled 0 (cos .96 vs .94); q2 the same → 0 is taken → 2;
    # q3 is image 2 itself → taken → 5 (cos .96 vs 0's .80)
    assert match_to_pool(queries, pool, unlabeled).tolist() == [0, 2, 5]


def test_match_refuses_more_queries_than_unlabeled_images():
    with pytest.raises(ValueError, match="cannot match 3 queries to 2"):
        match_to_pool(np.ones((3, 2)), np.ones((5, 2)), [0, 1])


class FixedProbs:
    def __init__(self, probs):
        self.probs = np.asarray(probs)

    def predict_proba(self, images):
        return self.probs


def test_model_oracle_rejects_labels_below_the_threshold():
    labels, accepted = label_by_model(np.zeros((3, 1, 8, 8)), FixedProbs([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9]]), 0.9)
    assert labels.tolist() == [0, 0, 1] and accepted.tolist() == [True, False, True]


# --- the loop ----------------------------------------------------------------------------------

def tiny(strategies, **gan):
    # the CNN from random first labels: these tests check the GAN's queries and oracles, not the learner
    return ExperimentConfig(strategies=strategies, seeds=[0], initial=10, query_size=5, rounds=3, learner="cnn",
                            initial_strategy="random", train=TrainOptions(steps=15, batch_size=16),
                            gan=GanOptions(candidates=200, **gan))


def source(G, oracle, reference=None, **kw):
    return GanQueries(G, 8, oracle, QueryOptions(candidates=200), reference=reference, **kw)


def test_match_strategy_labels_unlabeled_pool_images_only_never_twice(small_digits, G):
    cfg = tiny(["gan-entropy-match"])
    state = run_strategy(small_digits, "gan-entropy-match", 0, cfg, gan=source(G, "match"))
    initial, queried = state["labeled"][:10], [i for q in state["queries"] for i in q]
    assert len(queried) == 15 and len(set(queried)) == 15 and not set(queried) & set(initial)
    assert state["labeled"] == initial + queried
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15, 20, 25]
    assert state["generated"].shape == (15, 1, 8, 8)


def test_model_oracle_rejections_cost_labels_but_add_no_images(small_digits, G):
    cfg = tiny(["gan-margin-model"])
    gan = source(G, "model", FixedProbs(np.eye(10)[[3] * 5]), model_threshold=1.01)  # rejects everything
    state = run_strategy(small_digits, "gan-margin-model", 0, cfg, gan=gan)
    assert [r["n_labeled"] for r in state["rows"]] == [10, 15, 20, 25]
    assert len(state["labeled"]) == 10 and len(state["synthetic_y"]) == 0 and state["synthetic_spent"] == 15


def test_model_oracle_adds_accepted_images_with_its_labels(small_digits, G):
    cfg = tiny(["gan-margin-model"])
    state = run_strategy(small_digits, "gan-margin-model", 0, cfg, gan=source(G, "model", FixedProbs(np.eye(10)[[3] * 5])))
    assert state["synthetic_y"].tolist() == [3] * 15 and state["synthetic_x"].shape == (15, 1, 8, 8)
    assert torch.equal(state["synthetic_x"], state["generated"])


def test_gan_strategies_run_end_to_end_and_resume_from_their_state_file(small_digits, tmp_path):
    cfg = tiny(["gan-entropy-match", "gan-margin-model"], epochs=1, ngf=8, ndf=8, dedup=1.0)
    out = tmp_path / "out"
    run_experiment(cfg, out, data=small_digits, progress=False, cache_dir=tmp_path / "cache")
    for name in ["curves.csv", "summary.json", "queries_gan-entropy-match.png", "matched_gan-entropy-match.png",
                 "queries_gan-margin-model.png"]:
        assert (out / name).stat().st_size > 0, name
    full = (out / "curves.csv").read_text()
    state_file = out / "state" / "gan-margin-model__seed0.pt"
    done = torch.load(state_file, weights_only=True)

    # Back to the state after round 1, as a kill -9 after that round leaves it, then resume.
    cut = run_strategy(small_digits, "gan-margin-model", 0, replace(cfg, rounds=1), gan=_gan_source(tmp_path / "cache", small_digits))
    buf = io.BytesIO()
    torch.save(cut, buf)
    state_file.write_bytes(buf.getvalue())
    run_experiment(cfg, out, data=small_digits, progress=False, cache_dir=tmp_path / "cache", resume=True)
    resumed = torch.load(state_file, weights_only=True)
    assert [r["accuracy"] for r in resumed["rows"]] == [r["accuracy"] for r in done["rows"]]
    assert torch.equal(resumed["synthetic_x"], done["synthetic_x"]) and resumed["synthetic_spent"] == 15
    rows = list(csv.DictReader(io.StringIO(full)))
    assert [int(r["n_labeled"]) for r in rows] == [10, 15, 20, 25] * 2


def _gan_source(cache, data):
    from activegan.gan.prepare import gan_queries

    (path,) = (cache / "gan").glob("*/checkpoint.pt")
    return gan_queries(path, "model", GanOptions(candidates=200, dedup=1.0), data, cache)


# --- sample quality ----------------------------------------------------------------------------


def test_frechet_distance_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    x = np.random.default_rng(0).normal(size=(500, 6))
    x[:, 5] = 0  # a dead unit: singular covariance
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(x, x + [3, 0, 0, 4, 0, 0]) == pytest.approx(25, abs=1e-6)


def test_coverage_is_zero_for_one_class_and_ln_c_for_uniform():
    one = np.tile([0.1, 0.7, 0.2], (6, 1))
    uniform = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    assert class_coverage(one) == 0
    assert class_coverage(uniform) == pytest.approx(np.log(3))


def test_recognisability_is_the_share_with_confidence_at_least_0_9():
    probs = np.array([[0.95, 0.05], [0.5, 0.5], [0.9, 0.1], [0.11, 0.89]])
    assert recognisability(probs) == 0.5


def test_generate_and_gan_eval_commands(gan_path, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["generate", "--gan", str(gan_path), "--dataset", "digits", "-n", "6", "-m", "100",
                 "--epochs", "5", "--dedup-threshold", "1", "--out", str(out)]) == 0
    with np.load(out / "queries.npz") as z:
        assert z["images"].shape == (6, 1, 8, 8) and np.all(np.diff(z["scores"]) <= 0)
    assert (out / "queries.png").stat().st_size > 0
    assert main(["generate", "--gan", str(gan_path), "--dataset", "digits", "--acquisition", "bald",
                 "--refine-steps", "2", "--out", str(out)]) == 2
    assert "differentiable" in capsys.readouterr().err


def test_gan_eval_prints_the_three_measures(gan_path, small_digits, monkeypatch, capsys):
    from activegan.gan import judge

    quick = CNNClassifier(n_classes=10, steps=30, random_state=0).fit(small_digits.x_pool[:50], small_digits.y_pool[:50])
    judges = []
    monkeypatch.setattr(judge, "reference_classifier", lambda data, cache_dir=None, cfg=None: judges.append(cfg) or quick)
    assert main(["gan", "eval", str(gan_path), "--dataset", "digits", "-n", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("judged by the reference classifier trained 30 epochs:")  # the digits' default
    names = ["classifier-FID", "recognisability", "class coverage"]
    assert [line[:16].strip() for line in lines[1:]] == names
    fid, recognisable, coverage = (float(line[16:].split()[0]) for line in lines[1:])
    assert fid > 0 and 0 <= recognisable <= 1 and 0 <= coverage <= np.log(10)

    assert main(["gan", "eval", str(gan_path), "--dataset", "digits", "-n", "200", "--reference-epochs", "7"]) == 0
    assert [cfg.epochs for cfg in judges] == [30, 7]
    assert "trained 7 epochs:" in capsys.readouterr().out.splitlines()[0]
    assert main(["gan", "eval", str(gan_path), "--dataset", "digits", "--reference-epochs", "0"]) == 2
    assert "--reference-epochs must be at least 1, got 0" in capsys.readouterr().err


def test_training_records_the_evaluation_of_every_epoch(small_digits, tmp_path):
    calls = []

    def evaluate(G, nz):
        calls.append(G.training)
        return {"fid": 10.0 / (len(calls)), "coverage": 2.0}

    train_gan(small_digits.x_pool[:64], GanConfig(image_size=8, ngf=8, ndf=8, epochs=2, batch_size=32), tmp_path,
              progress=False, evaluate=evaluate)
    with open(tmp_path / "epochs.csv") as f:
        rows = list(csv.DictReader(f))
    assert calls == [False, False]  # G is evaluated in eval mode
    assert [(r["epoch"], float(r["fid"]), float(r["coverage"])) for r in rows] == [("1", 10.0, 2.0), ("2", 5.0, 2.0)]


def test_a_given_gan_checkpoint_serves_every_seed_without_training(small_digits, gan_path, tmp_path):
    cfg = tiny(["gan-entropy-match"], checkpoint=str(gan_path), dedup=1.0)
    cfg.seeds = [0, 1]
    out = tmp_path / "out"
    run_experiment(cfg, out, data=small_digits, progress=False, cache_dir=tmp_path / "cache")
    rows = list(csv.DictReader(io.StringIO((out / "curves.csv").read_text())))
    assert sorted({r["seed"] for r in rows}) == ["0", "1"]
    assert not (tmp_path / "cache" / "gan").exists()  # nothing trained


def test_a_gan_checkpoint_with_the_wrong_channels_or_missing_is_refused(small_digits, tmp_path):
    colour = train_gan(np.repeat(small_digits.x_pool[:32], 3, axis=1), GanConfig(image_size=8, channels=3, ngf=8, ndf=8,
                       epochs=1, batch_size=32), tmp_path / "rgb", progress=False)
    with pytest.raises(DataError, match="3-channel images, the digits pool has 1"):
        run_experiment(tiny(["gan-entropy-match"], checkpoint=str(colour)), tmp_path / "out", data=small_digits,
                       progress=False, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="not found"):
        run_experiment(tiny(["gan-entropy-match"], checkpoint=str(tmp_path / "nope.pt")), tmp_path / "out2", data=small_digits,
                       progress=False, cache_dir=tmp_path / "cache")


def test_resume_refuses_a_retrained_checkpoint_at_the_same_path(small_digits, gan_path, tmp_path):
    import shutil

    path = tmp_path / "g.pt"
    shutil.copy(gan_path, path)
    cfg = tiny(["gan-entropy-match"], checkpoint=str(path), dedup=1.0)
    cfg.rounds = 1
    run_experiment(cfg, tmp_path / "out", data=small_digits, progress=False, cache_dir=tmp_path / "cache")
    train_gan(small_digits.x_pool[:64], GanConfig(image_size=8, ngf=8, ndf=8, epochs=1, batch_size=32, seed=5), tmp_path / "g2",
              progress=False)
    shutil.copy(tmp_path / "g2" / "checkpoint.pt", path)  # the same path, another generator
    cfg = tiny(["gan-entropy-match"], checkpoint=str(path), dedup=1.0)
    cfg.rounds = 1
    with pytest.raises(ConfigError) as err:
        run_experiment(cfg, tmp_path / "out", data=small_digits, progress=False, cache_dir=tmp_path / "cache", resume=True)
    assert err.value.param == "gan.checkpoint_sha1"


def test_gan_density_k_is_checked_before_any_gan_trains(small_digits, tmp_path):
    cfg = tiny(["gan-density-entropy-match"], epochs=1)
    cfg.density_k = 5000
    with pytest.raises(ConfigError) as err:
        run_experiment(cfg, tmp_path / "out", data=small_digits, progress=False, cache_dir=tmp_path / "cache")
    assert err.value.param == "density_k" and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("features", ["pixels", "discriminator", "classifier"])
def test_match_oracle_in_each_feature_space(small_digits, gan_path, classifier, features):
    G, D, gcfg, _ = load_checkpoint(gan_path)
    gan = GanQueries(G, gcfg.image_size, "match", QueryOptions(candidates=50, dedup=1.0), match_features=features, D=D)
    unlabeled = np.arange(20, 300)
    asked = gan.ask(make_strategy("entropy"), classifier, small_digits.x_pool, unlabeled, 5, rng(0))
    assert len(set(asked.chosen.tolist())) == 5 and set(asked.chosen.tolist()) <= set(unlabeled.tolist())
    assert asked.generated.shape == (5, 1, 8, 8)


def test_gan_density_strategy_honours_penultimate_features(small_digits, G, classifier):
    pixel = make_strategy("density-entropy", density_k=5)
    penultimate = make_strategy("density-entropy", density_k=5, density_features="penultimate")
    a = generate_queries(G, classifier, pixel, 5, rng(3), pool=small_digits.x_pool, opts=opts(100, 1.0))
    b = generate_queries(G, classifier, penultimate, 5, rng(3), pool=small_digits.x_pool, opts=opts(100, 1.0))
    assert not np.allclose(a.scores, b.scores)
