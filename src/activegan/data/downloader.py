"""The downloader: each file from a list of mirrors, verified against known checksums.

Files are streamed into a temp file beside their destination, hashed on the way and renamed
into place only when a digest matches, so an interrupted or tampered download never leaves a
file that a later load would trust. Both tables are module-level so that tests (and users
behind a proxy mirror) can replace them; ``$ACTIVEGAN_MIRROR`` (one base URL) overrides the
default mirrors.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from activegan.data._common import one_line
from activegan.io import atomic_file
from activegan.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}

# Accepted digests per file, as "algorithm:hex"; a download matching any one of them is good.
# MNIST: the md5s are those of the files the mirrors serve; the sha256s are those of a
# re-compressed copy (same IDX contents, different gzip bytes), so a mirror serving either
# copy verifies.
CHECKSUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "sha256:0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        ),
        "train-labels-idx1-ubyte.gz": (
            "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "sha256:1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "md5:9fb629c4189551a2d022fa330f9573f3",
            "sha256:1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "md5:ec29112dd5afa0611ce80d1b7f02629c",
            "sha256:b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",),
        "train-labels-idx1-ubyte.gz": ("md5:25c81989df183df01b3e8a0aad5dffbe",),
        "t10k-images-idx3-ubyte.gz": ("md5:bef4ecab320f06d8554ea6380940ec79",),
        "t10k-labels-idx1-ubyte.gz": ("md5:bb300cfdad3c16e7a12a480ee83cd310",),
    },
    "cifar10": {
        "cifar-10-python.tar.gz": ("md5:c58f30108f718f92721af3b95e74349a",),
    },
}

DOWNLOAD_TIMEOUT_S = 60  # per blocking socket operation, not for the whole file
_CHUNK = 1 << 20


class _ChecksumMismatch(Exception):
    def __init__(self, digests: dict[str, str]):
        super().__init__(digests)
        self.digests = digests


def _digests(path: Path, algorithms: set[str]) -> dict[str, str]:
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _matches(digests: dict[str, str], accepted: tuple[str, ...]) -> bool:
    return any(digests.get(spec.split(":", 1)[0]) == spec.split(":", 1)[1].lower() for spec in accepted)


def _fetch(url: str, dest: Path, accepted: tuple[str, ...], algorithms: set[str]) -> dict[str, str]:
    """Stream ``url`` into a temp file beside ``dest``, hashing as it goes.

    Returns the digests; the file is renamed to ``dest`` only when they match ``accepted``
    (otherwise the temp file is removed). Network errors propagate as OSError/URLError.
    """
    hashers = {a: hashlib.new(a) for a in algorithms}
    with atomic_file(dest) as out:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
        digests = {a: h.hexdigest() for a, h in hashers.items()}
        if not _matches(digests, accepted):
            raise _ChecksumMismatch(digests)
    return digests


def _mirrors(name: str, mirrors: list[str] | None) -> list[str]:
    if mirrors:
        return list(mirrors)
    env = os.environ.get("ACTIVEGAN_MIRROR", "").strip()
    return [env] if env else list(MIRRORS[name])


def _fmt_digests(d: dict[str, str] | tuple[str, ...], sep: str) -> str:
    items = d.items() if isinstance(d, dict) else (spec.split(":", 1) for spec in d)
    return sep.join(f"{a} {h}" for a, h in sorted(items))


def _fetch_from_mirrors(key: str, fname: str, dest: Path, bases: list[str]) -> None:
    """Try each mirror in turn until one serves ``fname`` with an accepted checksum."""
    accepted = CHECKSUMS[key][fname]
    algorithms = {spec.split(":", 1)[0] for spec in accepted}
    if dest.is_file() and _matches(_digests(dest, algorithms), accepted):
        logger.debug("%s already present with a good checksum", dest)
        return
    failures, mismatch = [], None
    for base in bases:
        url = (base if base.endswith("/") else base + "/") + fname
        logger.info("downloading %s", url)
        try:
            _fetch(url, dest, accepted, algorithms)
            return
        except _ChecksumMismatch as e:
            mismatch = e.digests
            failures.append(f"{url} (checksum mismatch)")
        except urllib.error.HTTPError as e:
            failures.append(f"{url} (HTTP {e.code} {one_line(e.reason)})")
        except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, timeouts, resets
            failures.append(f"{url} ({one_line(getattr(e, 'reason', None) or e)})")
    if mismatch is not None:
        raise DataError(
            f"{key}: checksum mismatch for {fname}: expected {_fmt_digests(accepted, ' or ')}, "
            f"got {_fmt_digests(mismatch, ', ')} (tried {'; '.join(failures)})"
        )
    raise DataError(f"{key}: could not download {fname} from any mirror: {'; '.join(failures)}")


def download(name: str, cache_dir: str | os.PathLike, *, mirrors: list[str] | None = None) -> Path:
    """Fetch the files of ``name`` (mnist, fashion-mnist, cifar10) into ``cache_dir/<name>``.

    Each file is tried from each mirror base URL in turn (``mirrors``, else ``$ACTIVEGAN_MIRROR``,
    else :data:`MIRRORS`), streamed to a temp file, verified against :data:`CHECKSUMS` and
    renamed into place. Files already present with a good checksum are not fetched again.
    Returns the directory holding the files. An unknown ``name`` raises ConfigError; a download
    that fails from every mirror raises DataError.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in CHECKSUMS:
        raise ConfigError("name", f"cannot download dataset {name!r}; downloadable: {', '.join(CHECKSUMS)}")
    target = Path(cache_dir).expanduser() / key
    bases = _mirrors(key, mirrors)
    for fname in CHECKSUMS[key]:
        _fetch_from_mirrors(key, fname, target / fname, bases)
    return target
