"""``activegan label``: serve the labeling page; ``activegan label export``: write the labels out.

Imported by the main CLI to build its parser, so this module imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import quote

from activegan.active.strategies import DEFAULT_STRATEGY
from activegan.errors import ConfigError, DataError
from activegan.learners import LEARNERS

COMMANDS = ("label",)
TOKEN_ENV = "ACTIVEGAN_TOKEN"
TOKEN_FILE = "token"
DEFAULT_PORT = 8765


def add_label_parser(subparsers) -> None:
    label = subparsers.add_parser(
        "label",
        help="label images in the browser: a person is the oracle",
        description="Serve a labeling page on this machine. Options left out on a restart are taken from --state.",
    )
    label.add_argument("--dataset", help="digits, mnist, fashion-mnist, cifar10, or folder:PATH")
    label.add_argument("--data-dir", help="directory (or archive) holding the dataset's files")
    label.add_argument("--strategy", help=f"acquisition strategy (default for a new state {DEFAULT_STRATEGY}: the measured best "
                                          "at 10–250 labels, docs/results/acquisition/README.md; e.g. margin, random)")
    label.add_argument("--query-size", type=int, help="images per batch (default 10)")
    label.add_argument("--budget", type=int, help="images to label in all, skips included (default 10 batches)")
    label.add_argument("--state", help="directory for labels.sqlite, the token and the lock")
    label.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    label.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    label.add_argument("--seed", type=int, default=0, help="seed of the first (random) batch and of training (a restart keeps the state's)")
    label.add_argument("--learner", help=f"{', '.join(LEARNERS)} (default: the state's, else selftrain)")
    label.add_argument("--gan-checkpoint", help="gan-<acquisition> strategies: this DCGAN (default: one trained into the cache)")
    label.add_argument("--initial-strategy", choices=["random", "typical"],
                       help="the first batch, before any label: typical or random (default: the state's, else typical)")
    label.add_argument("--features", help="the pool's representation: auto, pixels, efficientnet-lite0[@SIZE], scattering, or your own "
                       "backbone: torchscript:PATH, onnx:PATH, python:module:function (default: the state's, else auto)")
    label.add_argument("--no-test", action="store_true", default=None,
                       help="no test split (folder:PATH <class>/* keeps every image in the pool): the page shows the accuracy "
                            "estimate from your labels only (default: the state's, else a test split where the dataset has one)")
    label.add_argument("--audit", type=float, default=0.0,
                       help="share of each batch after the first drawn uniformly from the unasked pool (at least 1 image "
                            "when > 0) and labeled like the others: the accuracy estimate then rests on them alone — "
                            "unbiased, wider (default 0: every image is the strategy's)")
    label.add_argument("--steps", type=int, default=150, help="the CNN learner's gradient steps per retrain (default 150)")
    label.add_argument("--subset", type=int, default=2000, help="score a random subset of this many unlabeled images")
    label.add_argument("--device", default="cpu", help="cpu or cuda")
    label.add_argument("--cache-dir", help="cache for pool densities (default $ACTIVEGAN_CACHE or ~/.cache/activegan)")
    sub = label.add_subparsers(dest="label_command", metavar="{export}")
    export = sub.add_parser("export", help="write the labels as CSV (stdout) or JSON")
    # SUPPRESS: `label --state X export` keeps the X given before the subcommand.
    export.add_argument("--state", default=argparse.SUPPRESS, help="the labeling state directory")
    export.add_argument("--format", choices=["csv", "json"], default="csv", help="csv (default) or json")
    export.add_argument("--out", help="write to this file (atomically) instead of stdout")


def run_label_command(args) -> int:
    if not getattr(args, "state", None):
        raise ConfigError("state", "required: the directory that holds (or will hold) the labels")
    if getattr(args, "label_command", None) == "export":
        return export_command(Path(args.state).expanduser(), args.format, args.out)
    return serve_command(args)


def export_command(state: Path, fmt: str, out: str | None) -> int:
    from activegan.io import atomic_write_text
    from activegan.label.export import export_csv, export_rows
    from activegan.label.store import LabelStore

    if not LabelStore.exists(state):
        raise DataError(f"{state} holds no labels (no labels.sqlite); pass the --state of a labeling session")
    store = LabelStore(state, readonly=True)
    try:
        rows = export_rows(store)
    finally:
        store.close()
    text = export_csv(rows) if fmt == "csv" else json.dumps({"labels": rows}, indent=2) + "\n"
    if out:
        atomic_write_text(out, text)
        print(f"activegan: wrote {len(rows)} labels to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def resolve_token(state: Path) -> str:
    """$ACTIVEGAN_TOKEN when set; otherwise the one kept in the state directory (made once)."""
    from activegan.io import atomic_write_text

    env = os.environ.get(TOKEN_ENV)
    if env is not None:
        if not env.strip():
            raise ValueError(f"{TOKEN_ENV} is set but empty; unset it or give it a value")
        return env.strip()
    path = state / TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    atomic_write_text(path, token + "\n", mode=0o600)  # a secret: readable by its owner only
    return token


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before anything slow, so a busy port is a one-line error and port 0 gets a real port."""
    if not 0 <= port <= 65535:
        raise ConfigError("port", f"must be between 0 and 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError("host", f"cannot resolve {host} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError("port", f"cannot listen on {host}:{port} ({exc.strerror}); pass another port, or 0 for any free one") from None
    sock.set_inheritable(True)
    return sock


def page_url(sock: socket.socket, host: str, token: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={quote(token, safe='')}"


def serve_command(args) -> int:
    from activegan.label.session import LabelConfig, check_state_dir

    state = Path(args.state).expanduser()
    meta = check_state_dir(state, args.dataset, args.strategy)  # before loading any data: refuse fast
    dataset = args.dataset or meta.get("dataset")
    strategy = args.strategy or meta.get("strategy") or DEFAULT_STRATEGY
    if not dataset:
        raise ConfigError("dataset", f"required: {state} is a new labeling state; pass --dataset")
    cfg = LabelConfig(
        dataset=dataset,
        strategy=strategy,
        query_size=args.query_size if args.query_size is not None else meta.get("query_size", 10),
        budget=args.budget if args.budget is not None else meta.get("budget"),
        seed=args.seed,
        # A state made before these options used the CNN and a random first batch: keep doing so.
        learner=args.learner or meta.get("learner", "cnn" if meta else LabelConfig.learner),
        initial_strategy=args.initial_strategy or meta.get("initial_strategy", "random" if meta else LabelConfig.initial_strategy),
        features=args.features or meta.get("features", "pixels" if meta else LabelConfig.features),
        steps=args.steps,
        gan_checkpoint=args.gan_checkpoint,
        subset=args.subset,
        device=args.device,
        no_test=bool(args.no_test or meta.get("no_test", False)),
        audit=args.audit,
    )
    sock = bind_socket(args.host, args.port)
    try:
        return _serve(args, state, cfg, sock)
    finally:
        sock.close()


def _serve(args, state: Path, cfg, sock: socket.socket) -> int:
    import torch
    import uvicorn

    from activegan.data import default_cache_dir, load_dataset
    from activegan.label.session import LabelSession
    from activegan.label.web import create_app

    cfg.cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    cfg.validate(10**9)  # the strategy and sizes, before the (maybe slow) dataset load
    data = load_dataset(cfg.dataset, args.data_dir, cache_dir=cfg.cache_dir, test=not cfg.no_test)
    _log_to_stderr()
    # Retraining shares the machine with the page: leave a core for serving it.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    with LabelSession(state, data, cfg) as session:
        token = resolve_token(state)
        app = create_app(session, token)
        status = session.status()
        print(
            f"activegan label: {cfg.dataset} ({len(data.y_pool)} pool images, "
            f"{f'{len(data.y_test)} test' if len(data.y_test) else 'no test split: the accuracy is estimated from your labels'}), "
            f"strategy {cfg.strategy}, batches of {cfg.query_size}, budget {cfg.total_budget}; "
            f"round {status.round}, {status.labeled} labeled so far; state in {state}",
            flush=True,
        )
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"activegan label: listening on {args.host}: anyone who can reach it and has the token can label "
                  "(plain HTTP)", flush=True)
        print(f"Open this URL in your browser (Ctrl-C stops the server; labels are saved as you go):\n\n  "
              f"{page_url(sock, args.host, token)}\n", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                               server_header=False))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
    print(f"activegan label: stopped; labels are in {state / 'labels.sqlite'}", flush=True)
    return 0


def _log_to_stderr() -> None:
    log = logging.getLogger("activegan.label")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # its own format; not again through the "activegan" logger
