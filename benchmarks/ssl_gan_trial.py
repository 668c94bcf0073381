"""A first measurement of the ssl-gan learner on MNIST: test accuracy after each epoch over the pool
with a fixed set of random labels (not yet part of the label-efficiency benchmark: too slow per round).

    python -m benchmarks.ssl_gan_trial [--labels 100] [--epochs 8]   # → docs/results/label-efficiency/mnist/ssl-gan-trial.csv
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks import reporting


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ssl_gan_trial", description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--hidden-noise", type=float, default=0.5)
    p.add_argument("--test", type=int, default=2000, help="test images scored after each epoch (the first N)")
    args = p.parse_args(argv)
    reporting.one_thread()
    from activegan.data import load_dataset
    from activegan.gan.semisupervised import SSLGanLearner, SSLGanOptions
    from benchmarks.label_efficiency import DATA_DIRS

    data = load_dataset("mnist", DATA_DIRS["mnist"])
    labeled = np.random.default_rng(0).choice(len(data.y_pool), args.labels, replace=False)
    opts = SSLGanOptions(first_epochs=1, epochs=1, width=args.width, hidden_noise=args.hidden_noise)
    learner = SSLGanLearner(data.x_pool, 10, opts)
    rows = ["epoch,labels,test_images,accuracy,seconds,loss_d,loss_g"]
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        learner.fit(data.x_pool[labeled], data.y_pool[labeled])
        seconds = time.perf_counter() - t
        acc = learner.score(data.x_test[: args.test], data.y_test[: args.test])
        rows.append(f"{epoch},{args.labels},{args.test},{acc:.4f},{seconds:.1f},{learner.losses_[0]:.4f},{learner.losses_[1]:.4f}")
        print(rows[-1], flush=True)
    out = reporting.RESULTS / "label-efficiency" / "mnist"
    reporting.write_readme(out / "ssl-gan-trial.csv", "\n".join(rows))
    reporting.write_readme(out / "ssl-gan-trial.json", __import__("json").dumps(
        {"command": reporting.command("ssl_gan_trial", sys.argv[1:] if argv is None else argv), "machine": reporting.machine(),
         "width": args.width, "hidden_noise": args.hidden_noise, "threads": 1}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
