"""How long a person waits once for a pool's representation: `activegan features` on a whole dataset (its pool
and test images, as the command reads them) into an empty cache, then the same command again, reading the cache.
Each is a fresh process with the library's defaults (`--features auto`, every core), timed from start to exit:
reading and decoding the images, the backbone, the cache's chunk files and the .npz written.

    python -m benchmarks.feature_speed [--dataset cifar10]   # → docs/results/speed/features-<dataset>.md
    python -m benchmarks.feature_speed --quick               # the digits, printed only

``--keep DIR`` moves the features it computed into the cache DIR afterwards (e.g. ~/.cache/activegan), so the long
benchmarks need not compute them again; the timed runs always start from an empty temporary cache.

Aim (issue: photographs): the features of the 60 000 CIFAR-10 images ≤ 20 minutes on this machine, cached.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import reporting, speed_report

AIM_MIN = speed_report.FEATURES_AIM_MIN


def timed(argv: list[str]) -> tuple[float, str]:
    """Seconds one `activegan` process takes, and the last line it printed; a failure stops the benchmark."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "activegan", *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"activegan {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, (done.stdout.strip().splitlines() or [""])[-1]


def measure(name: str, data_dir, features: str, keep: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "features.npz"
        argv = ["features", "--dataset", name, "--out", str(out), "--cache-dir", str(cache), "--no-progress",
                "--features", features, *(["--data-dir", str(data_dir)] if data_dir else [])]
        cold_s, said = timed(argv)
        said = said.replace(str(out), "F")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the cold process's peak (KiB on Linux)
        with np.load(out) as z:
            images, dims = z["features"].shape
        out.unlink()
        warm_s, _ = timed(argv)
        cached_mib = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            for f in cache.glob("features-*.npz"):
                if not (keep / f.name).exists():
                    shutil.move(f, keep / f.name)
    return {"dataset": name, "images": images, "dims": dims, "cold_s": round(cold_s, 1), "cached_s": round(warm_s, 1),
            "images_per_s": round(images / cold_s, 1), "peak_rss_mib": round(peak_mib), "cache_mib": round(cached_mib, 1),
            "said": said}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.feature_speed", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10", choices=["mnist", "cifar10"])
    p.add_argument("--quick", action="store_true", help="the digits through the embedded backbone at 32 px, printed only")
    p.add_argument("--keep", type=Path, help="a cache directory to move the computed features into afterwards")
    args = p.parse_args(argv)
    name = "digits" if args.quick else args.dataset
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    features = "efficientnet-lite0@32" if args.quick else "auto"  # the digits' auto is their pixels: no backbone to time
    m = measure(name, None if args.quick else reporting.DATA_DIRS[name], features, args.keep)
    minutes = m["cold_s"] / 60
    met = minutes <= AIM_MIN
    text = "\n".join([
        f"# The features of {name}'s images, once", "",
        "- Command: `python -m benchmarks.feature_speed" + (" --quick`" if args.quick else f" --dataset {name}`"),
        f"- Date: {started}; {reporting.machine_line(reporting.machine())}; every core (torch's default threads).",
        f"- What runs: `activegan features --dataset {name} --out F --cache-dir EMPTY --no-progress --features {features}`, "
        "a fresh process timed from start to exit, then the same command again on the filled cache.", "",
        reporting.md_table(["images", "features", "first time (s)", "images / s", "peak memory (MiB)", "cache (MiB)",
                            "again, from the cache (s)"],
                           [[f"{m['images']:,}", f"{m['dims']}-d", m["cold_s"], m["images_per_s"], m["peak_rss_mib"],
                             m["cache_mib"], m["cached_s"]]]), "",
        f"It printed: `{m['said']}`", "",
        f"Aim: the features of the 60 000 CIFAR-10 images ≤ {AIM_MIN:g} minutes on this machine, cached: "
        f"{minutes:.1f} minutes for {m['images']:,} images"
        + (f" — **{'met' if met else 'not met'}**." if name == "cifar10" else " (another dataset: the aim is CIFAR-10's)."), "",
        reporting.shared_machine_words("idle cores"), ""])
    if args.quick:
        print(text)
        return 0
    out = reporting.RESULTS / "speed"
    reporting.write_rows_csv(out / f"features-{name}.csv", [{k: v for k, v in m.items() if k != "said"}])
    reporting.write_readme(out / f"features-{name}.md", text)
    print(out / f"features-{name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
