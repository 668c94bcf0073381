import argparse
import csv
import sys
import types
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from activegan.errors import ConfigError, DataError
from activegan.gan import (
    GanConfig,
    build_discriminator,
    build_generator,
    discriminator_features,
    generate_from_z,
    load_checkpoint,
    sample,
    sample_z,
    train_gan,
)
from activegan.gan.cli import add_gan_parser, add_generate_parser, run_gan_command, run_generate_command
from activegan.gan.networks import check_config
from activegan.gan.train import recalibrate_batch_norm, train_step, update_average

SIZES = (8, 16, 28, 32, 64)
TINY = GanConfig(image_size=8, channels=1, ngf=16, ndf=16, epochs=2, batch_size=32, log_every=4, dataset="digits")


@pytest.fixture(scope="module")
def digits(all_digits):
    """256 pool digits as (N, 1, 8, 8) floats in [0, 1]."""
    return all_digits.x_pool[:256]


@pytest.fixture(scope="module")
def run_dir(digits, tmp_path_factory):
    """A tiny DCGAN trained for 2 epochs of 8 steps each."""
    out = tmp_path_factory.mktemp("gan")
    train_gan(digits, TINY, out, progress=False)
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- architecture ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_makes_images_of_the_configured_shape_in_tanh_range(size, channels):
    G = build_generator(GanConfig(image_size=size, channels=channels, ngf=8))
    out = G(sample_z(4, 100, torch.Generator().manual_seed(0)))
    assert out.shape == (4, channels, size, size)
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("size", SIZES)
def test_generator_has_batchnorm_after_every_conv_but_the_output_one(size):
    G = build_generator(GanConfig(image_size=size, ngf=8))
    convs = [i for i, m in enumerate(G) if isinstance(m, nn.ConvTranspose2d)]
    assert [type(G[i + 1]) for i in convs[:-1]] == [nn.BatchNorm2d] * (len(convs) - 1)
    assert [type(m) for m in G[convs[-1] + 1 :]] == [nn.Tanh]


@pytest.mark.parametrize("size, base, blocks", [(8, 2, 2), (16, 4, 2), (28, 7, 2), (32, 4, 3), (64, 4, 4)])
def test_generator_projects_z_then_doubles_with_stride_2(size, base, blocks):
    G = build_generator(GanConfig(image_size=size, ngf=8))
    convs = [m for m in G if isinstance(m, nn.ConvTranspose2d)]
    assert convs[0].kernel_size == (base, base) and convs[0].stride == (1, 1)
    assert [c.stride for c in convs[1:]] == [(2, 2)] * blocks
    assert [c.out_channels for c in convs] == [8 * 2**i for i in reversed(range(blocks))] + [1]


@pytest.mark.parametrize("size", [16, 28, 32, 64])
def test_discriminator_batchnorms_every_block_but_the_input_one(size):
    D = build_discriminator(GanConfig(image_size=size, ndf=8))
    layers = list(D.features)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    assert type(layers[1]) is nn.LeakyReLU
    assert [type(layers[i + 1]) for i in convs[1:]] == [nn.BatchNorm2d] * (len(convs) - 1)
    assert len(convs) > 1


@pytest.mark.parametrize("size", SIZES)
def test_networks_have_no_linear_or_pooling_layers(size):
    cfg = GanConfig(image_size=size, ngf=8, ndf=8)
    for net in (build_generator(cfg), build_discriminator(cfg)):
        kinds = {type(m).__name__ for m in net.modules()}
        assert not {k for k in kinds if "Linear" in k or "Pool" in k}, kinds


def test_discriminator_uses_leaky_relu_and_generator_relu():
    cfg = GanConfig(image_size=32, ngf=8, ndf=8)
    assert all(m.negative_slope == 0.2 for m in build_discriminator(cfg).modules() if isinstance(m, nn.LeakyReLU))
    kinds = {type(m) for m in build_generator(cfg).modules()}
    assert nn.ReLU in kinds and nn.LeakyReLU not in kinds


@pytest.mark.parametrize("size, features", [(8, 16 * 2 * 2), (28, 16 * 7 * 7), (32, 32 * 4 * 4)])
def test_discriminator_gives_one_logit_and_its_last_feature_map(size, features):
    D = build_discriminator(GanConfig(image_size=size, ndf=8))
    x = torch.rand(5, 1, size, size)
    assert D(x * 2 - 1).shape == (5,)
    assert discriminator_features(D, x).shape == (5, features)


def test_discriminator_features_resize_images_of_another_size():
    D = build_discriminator(GanConfig(image_size=32, ndf=8)).eval()
    assert discriminator_features(D, torch.rand(3, 1, 28, 28)).shape == (3, 32 * 4 * 4)


@pytest.mark.parametrize("size", [0, 7, 24, 48, 128])
def test_unsupported_image_sizes_are_rejected(size):
    with pytest.raises(ConfigError, match=f"image_size: must be one of .*, got {size}$") as err:
        build_generator(GanConfig(image_size=size))
    assert err.value.param == "image_size"
    with pytest.raises(ConfigError, match=f"image_size: must be one of .*, got {size}$"):
        build_discriminator(GanConfig(image_size=size))


def test_weights_start_from_the_dcgan_normal():
    G = build_generator(GanConfig(image_size=64))
    conv, bn = G[3], G[4]
    assert abs(conv.weight.std().item() - 0.02) < 0.001 and abs(conv.weight.mean().item()) < 0.001
    assert abs(bn.weight.mean().item() - 1) < 0.01 and bn.bias.abs().max() == 0


def test_z_is_uniform_in_minus_one_one():
    z = sample_z(1000, 100, torch.Generator().manual_seed(0))
    assert z.shape == (1000, 100, 1, 1)
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean().item()) < 0.01 and z.min() < -0.99 and z.max() > 0.99


def test_generate_from_z_is_in_unit_range_and_differentiable_in_z():
    G = build_generator(GanConfig(image_size=8, ngf=8)).eval()
    z = sample_z(3, 100, torch.Generator().manual_seed(0)).flatten(1).requires_grad_()
    images = generate_from_z(G, z)
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    images.mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


# --- training ----------------------------------------------------------------------------------


def test_training_writes_checkpoint_grids_and_logs(run_dir):
    G, D, cfg, epoch = load_checkpoint(run_dir / "checkpoint.pt")
    assert epoch == 2 and cfg == TINY
    assert (run_dir / "samples_epoch001.png").stat().st_size > 0
    assert (run_dir / "samples_epoch002.png").stat().st_size > 0
    assert (run_dir / "losses.png").stat().st_size > 0
    assert not list(run_dir.glob("*.tmp"))
    assert [r["epoch"] for r in read_csv(run_dir / "epochs.csv")] == ["1", "2"]


def test_losses_are_logged_every_log_every_steps_and_finite(run_dir):
    rows = read_csv(run_dir / "losses.csv")
    # 256 images / batch 32 = 8 steps an epoch, a row every 4 steps
    assert [(r["epoch"], r["step"]) for r in rows] == [("1", "4"), ("1", "8"), ("2", "12"), ("2", "16")]
    values = np.array([[float(r[k]) for k in ("loss_d", "loss_g", "d_real", "d_fake")] for r in rows])
    assert np.isfinite(values).all()
    assert ((values[:, 2:] > 0) & (values[:, 2:] < 1)).all()
    assert np.all(np.diff([float(r["seconds"]) for r in rows]) > 0)


def test_resume_gives_the_same_weights_as_training_straight_through(digits, run_dir, tmp_path):
    train_gan(digits, replace(TINY, epochs=1), tmp_path, progress=False)
    train_gan(digits, TINY, tmp_path, resume=True, progress=False)
    G_resumed, _, _, epoch = load_checkpoint(tmp_path / "checkpoint.pt")
    G_straight, _, _, _ = load_checkpoint(run_dir / "checkpoint.pt")
    assert epoch == 2
    for (name, a), b in zip(G_resumed.state_dict().items(), G_straight.state_dict().values()):
        assert torch.equal(a, b), name
    assert [r["step"] for r in read_csv(tmp_path / "losses.csv")] == ["4", "8", "12", "16"]
    assert (tmp_path / "samples_epoch002.png").exists()


def test_resume_to_more_epochs_continues_at_the_next_epoch(digits, run_dir, tmp_path):
    for f in run_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    train_gan(digits, replace(TINY, epochs=3), tmp_path, resume=True, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")[3] == 3
    assert [r["epoch"] for r in read_csv(tmp_path / "epochs.csv")] == ["1", "2", "3"]
    assert (tmp_path / "samples_epoch003.png").exists()


def test_resume_when_already_done_changes_nothing(digits, run_dir):
    before = (run_dir / "checkpoint.pt").read_bytes()
    train_gan(digits, TINY, run_dir, resume=True, progress=False)
    assert (run_dir / "checkpoint.pt").read_bytes() == before


def test_resume_with_another_architecture_is_refused(digits, run_dir):
    with pytest.raises(DataError, match="ngf=16 -> 32"):
        train_gan(digits, replace(TINY, ngf=32, epochs=3), run_dir, resume=True, progress=False)


def test_training_again_into_a_used_directory_is_refused(digits, run_dir):
    with pytest.raises(DataError, match="already exists"):
        train_gan(digits, TINY, run_dir, progress=False)


def test_resume_without_a_checkpoint_is_refused(digits, tmp_path):
    with pytest.raises(DataError, match="no checkpoint"):
        train_gan(digits, TINY, tmp_path, resume=True, progress=False)


def test_images_are_resized_to_the_configured_size(digits, tmp_path):
    cfg = replace(TINY, image_size=16, epochs=1)
    path = train_gan(digits[:64], cfg, tmp_path, progress=False)
    assert sample(path, 3).shape == (3, 1, 16, 16)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 8, 8), np.float32), "shape"),
    (np.zeros((10, 3, 8, 8), np.float32), "3 channels"),
    (np.full((10, 1, 8, 8), 255, np.float32), r"\[0, 1\]"),
])
def test_bad_training_images_are_rejected(bad, message, tmp_path):
    with pytest.raises(ConfigError, match=message) as err:
        train_gan(bad, TINY, tmp_path, progress=False)
    assert err.value.param == "images"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_asked_but_unavailable_is_a_config_error(digits, tmp_path):
    with pytest.raises(ConfigError, match="CUDA is not available") as err:
        train_gan(digits, replace(TINY, device="cuda"), tmp_path, progress=False)
    assert err.value.param == "device" and "--" not in str(err.value)


# --- sampling ----------------------------------------------------------------------------------


def test_sample_is_deterministic_for_a_seed_and_in_unit_range(run_dir):
    a = sample(run_dir / "checkpoint.pt", 10, seed=1)
    assert a.shape == (10, 1, 8, 8) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, sample(run_dir / "checkpoint.pt", 10, seed=1))
    assert not np.allclose(a, sample(run_dir / "checkpoint.pt", 10, seed=2))


def test_sample_does_not_depend_on_the_batch_size(run_dir):
    a = sample(run_dir / "checkpoint.pt", 10, seed=1)
    assert np.allclose(a, sample(run_dir / "checkpoint.pt", 10, seed=1, batch_size=3), atol=1e-6)


# --- bad checkpoints ---------------------------------------------------------------------------


def assert_data_error_naming(path, match=None):
    with pytest.raises(DataError, match=match) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert path.name in message and "\n" not in message


def test_missing_checkpoint(tmp_path):
    assert_data_error_naming(tmp_path / "nope.pt", "not found")


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(5000), b"", b"epoch,loss\n1,0.5\n"])
def test_random_bytes_empty_or_text_files_are_not_checkpoints(content, tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    assert_data_error_naming(path, "not a readable PyTorch checkpoint")


def test_truncated_checkpoint(run_dir, tmp_path):
    path = tmp_path / "truncated.pt"
    data = (run_dir / "checkpoint.pt").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_data_error_naming(path, "not a readable PyTorch checkpoint")


def test_other_torch_file_is_not_a_gan_checkpoint(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save({"model": {"w": torch.zeros(3)}, "epoch": 1}, path)
    assert_data_error_naming(path, "not an activegan DCGAN checkpoint")


def test_checkpoint_missing_a_network(run_dir, tmp_path):
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    del ckpt["discriminator"]
    path = tmp_path / "half.pt"
    torch.save(ckpt, path)
    assert_data_error_naming(path, "missing discriminator")


def test_weights_that_do_not_match_the_config(run_dir, tmp_path):
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ckpt["config"]["ngf"] = 32  # the stored weights are ngf=16
    path = tmp_path / "mismatch.pt"
    torch.save(ckpt, path)
    assert_data_error_naming(path, "generator(_ema)? weights do not match")


def test_checkpoint_with_an_unsupported_size_in_its_config(run_dir, tmp_path):
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ckpt["config"]["image_size"] = 24
    path = tmp_path / "size24.pt"
    torch.save(ckpt, path)
    assert_data_error_naming(path, r"bad config in checkpoint: image_size: must be one of .*, got 24")


# --- command line ------------------------------------------------------------------------------


def test_cli_trains_and_resume_keeps_the_checkpoint_options(digits, tmp_path, monkeypatch, capsys):
    fake = types.ModuleType("activegan.data")
    fake.load_dataset = lambda name, data_dir=None: types.SimpleNamespace(x_pool=digits[:64])
    monkeypatch.setitem(sys.modules, "activegan.data", fake)
    parser = argparse.ArgumentParser()
    add_gan_parser(parser.add_subparsers(dest="command"))
    out = str(tmp_path / "run")
    common = ["gan", "train", "--dataset", "digits", "--out", out]
    assert run_gan_command(parser.parse_args(common + ["--epochs", "1", "--image-size", "8", "--ngf", "8",
                                                      "--ndf", "8", "--batch-size", "32"])) == 0
    assert run_gan_command(parser.parse_args(common + ["--epochs", "2", "--resume"])) == 0
    _, _, cfg, epoch = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert epoch == 2
    assert (cfg.image_size, cfg.ngf, cfg.ndf, cfg.batch_size, cfg.dataset) == (8, 8, 8, 32, "digits")
    assert "checkpoint.pt" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="give both or neither") as err:
        run_gan_command(parser.parse_args(common + ["--epochs", "3", "--resume", "--reference-epochs", "12"]))
    assert err.value.param == "reference_epochs"


@pytest.mark.parametrize("options, param, message", [
    (["--acquisition", "gan-entropy-match"], "acquisition", "not a GAN strategy"),
    (["--acquisition", "nope"], "acquisition", "unknown strategy 'nope'"),
    (["--acquisition", "bald", "--refine-steps", "3"], "refine_steps", "needs a differentiable acquisition"),
    (["--refine-steps", "-1"], "refine_steps", "must be 0 or more"),
    (["--threads", "0"], "threads", "must be at least 1"),
])
def test_generate_cli_rejects_bad_options_before_loading_anything(options, param, message, tmp_path):
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["generate", "--gan", str(tmp_path / "absent.pt"), "--dataset", "digits",
                              "--out", str(tmp_path), *options])
    with pytest.raises(ConfigError, match=message) as err:
        run_generate_command(args)
    assert err.value.param == param


def test_generate_cli_names_its_short_flags(tmp_path):
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"))
    common = ["generate", "--gan", str(tmp_path / "absent.pt"), "--dataset", "digits", "--out", str(tmp_path)]
    with pytest.raises(ValueError, match="^-m must be at least -n"):
        run_generate_command(parser.parse_args(common + ["-n", "10", "-m", "5"]))
    with pytest.raises(DataError, match="checkpoint not found"):
        run_generate_command(parser.parse_args(common + ["--acquisition", "density-entropy", "--refine-steps", "2"]))


def test_resume_after_a_crash_mid_epoch_drops_that_epochs_log_rows(digits, tmp_path):
    train_gan(digits, replace(TINY, epochs=1), tmp_path, progress=False)
    with open(tmp_path / "losses.csv", "a") as log:
        log.write("2,12,1.3,0.7,0.5,0.5,9.9\n2,1")  # rows appended before the crash, the last one cut short
    train_gan(digits, TINY, tmp_path, resume=True, progress=False)
    assert [r["step"] for r in read_csv(tmp_path / "losses.csv")] == ["4", "8", "12", "16"]


@pytest.mark.parametrize("size, hidden", [(28, 14), (32, 16)])
def test_extra_layers_add_stride_1_blocks_with_batch_norm_to_both_networks(size, hidden):
    cfg = GanConfig(image_size=size, ngf=8, ndf=8, extra_layers=2)
    G, D = build_generator(cfg), build_discriminator(cfg)
    extra_g = [i for i, m in enumerate(G) if isinstance(m, nn.Conv2d)]
    assert len(extra_g) == 2 and all(G[i].stride == (1, 1) and G[i].kernel_size == (3, 3) for i in extra_g)
    assert [type(G[i + 1]) for i in extra_g] == [nn.BatchNorm2d] * 2
    assert G[: extra_g[0]](sample_z(2, 100, torch.Generator().manual_seed(0))).shape == (2, 8, hidden, hidden)
    convs_d = [m for m in D.features if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs_d[1:3]] == [(1, 1)] * 2 and type(D.features[3]) is nn.BatchNorm2d
    assert G(sample_z(2, 100, torch.Generator().manual_seed(0))).shape == (2, 1, size, size)
    assert D(torch.zeros(2, 1, size, size)).shape == (2,)
    with pytest.raises(ConfigError, match="extra_layers: must be 0 or more"):
        check_config(replace(cfg, extra_layers=-1))


@pytest.mark.parametrize("g_steps", [1, 2, 3])
def test_each_discriminator_update_is_followed_by_g_steps_generator_updates(g_steps):
    cfg = replace(TINY, nz=4)
    G, D = build_generator(cfg), build_discriminator(cfg)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    calls = {"g": 0, "d": 0}
    for name, opt in (("g", opt_g), ("d", opt_d)):
        opt.register_step_post_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    train_step(G, D, opt_g, opt_d, torch.rand(8, 1, 8, 8) * 2 - 1, sample_z(8, 4, torch.Generator().manual_seed(0)), g_steps=g_steps)
    assert calls == {"g": g_steps, "d": 1}


# --- weight averaging ------------------------------------------------------------------------


def test_the_average_moves_each_weight_toward_the_live_one_by_one_minus_decay():
    avg, live = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        avg.weight.copy_(torch.tensor([[1.0, 2.0]]))
        live.weight.copy_(torch.tensor([[3.0, -2.0]]))
    update_average(avg, live, 0.75)
    # 0.75 · 1 + 0.25 · 3 = 1.5; 0.75 · 2 + 0.25 · (−2) = 1.0
    assert torch.allclose(avg.weight, torch.tensor([[1.5, 1.0]]))


def test_recalibrated_batch_norm_holds_the_mean_of_the_generators_own_activations():
    G = build_generator(replace(TINY, nz=4))
    recalibrate_batch_norm(G, replace(TINY, nz=4), "cpu", batches=3, size=50)
    gen = torch.Generator().manual_seed(TINY.seed + 2)
    z = torch.cat([sample_z(50, 4, gen) for _ in range(3)])
    first = G[0](z)  # the projection, before the first batch norm
    assert torch.allclose(G[1].running_mean, first.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not G.training and G[1].momentum == 0.1


def test_samples_come_from_the_averaged_generator_and_ema_0_keeps_the_last_weights(digits, run_dir, tmp_path):
    train_gan(digits, replace(TINY, ema=0.9), tmp_path / "ema", progress=False)
    ckpt = torch.load(tmp_path / "ema" / "checkpoint.pt", weights_only=True)
    G, _, _, _ = load_checkpoint(tmp_path / "ema" / "checkpoint.pt")
    assert all(torch.equal(v, ckpt["generator_ema"][k]) for k, v in G.state_dict().items())
    assert not torch.equal(ckpt["generator_ema"]["0.weight"], ckpt["generator"]["0.weight"])
    plain = torch.load(run_dir / "checkpoint.pt", weights_only=True)  # TINY: ema 0, the default
    assert "generator_ema" not in plain
    G0, _, _, _ = load_checkpoint(run_dir / "checkpoint.pt")
    assert torch.equal(G0.state_dict()["0.weight"], plain["generator"]["0.weight"])


def test_ema_outside_0_1_is_a_config_error():
    with pytest.raises(ConfigError, match=r"ema: must be in \[0, 1\)"):
        check_config(replace(TINY, ema=1.0))
