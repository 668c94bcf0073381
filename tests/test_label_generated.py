"""Generated queries in the labeling app: after a first pool batch, the person labels synthesised images;
"unrecognisable" (skip) costs a label and adds nothing to training."""

import time

import pytest

from activegan.gan import GanConfig, train_gan
from activegan.label.session import LabelConfig, LabelSession
from activegan.label.store import SKIP


@pytest.fixture(scope="module")
def gan_path(small_digits, tmp_path_factory):
    return train_gan(small_digits.x_pool, GanConfig(image_size=8, ngf=8, ndf=8, epochs=1, batch_size=32),
                     tmp_path_factory.mktemp("gan"), progress=False)


def wait_for_round(session, r, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline and session.status().round < r:
        time.sleep(0.05)
    assert session.status().round == r


def test_a_person_labels_generated_images_and_skips_unrecognisable_ones(small_digits, gan_path, tmp_path):
    d = small_digits
    cfg = LabelConfig(dataset="digits", strategy="gan-margin", query_size=4, steps=20, gan_checkpoint=str(gan_path))
    with LabelSession(tmp_path / "state", d, cfg) as session:  # a 1-epoch DCGAN warns of near-duplicates
        first = session.status().batch
        assert all(item.pool_index is not None for item in first)  # nothing learned yet: a pool batch
        for item in first:
            session.label(item.id, d.classes[d.y_pool[item.pool_index]])
        wait_for_round(session, 2)
        generated = session.status().batch
        assert len(generated) == 4 and all(item.pool_index is None and item.file for item in generated)
        assert session.image(generated[0].id).shape == d.image_shape
        session.label(generated[0].id, SKIP)  # "not a recognisable image"
        for item in generated[1:]:
            session.label(item.id, d.classes[3])
        wait_for_round(session, 3)
        status = session.status()
        assert status.skipped == 1 and status.asked == 12  # the skip was asked and counted
        assert status.curve[1]["n_labeled"] == 4 + 3  # trained on the class labels only
    assert len(list((tmp_path / "state" / "generated").glob("*.png"))) == 8


def test_unknown_generated_acquisition_is_refused():
    from activegan.errors import ConfigError

    with pytest.raises(ConfigError, match="gan-<one of them>"):
        LabelConfig(dataset="digits", strategy="gan-entropyy").validate(100)
