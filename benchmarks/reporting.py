"""Shared by the benchmarks: machine description, wall-time log and run record, Markdown, number
formats, data paths.

Every number a README states is computed here or in the benchmark modules from measured data
committed under ``docs/results/``; nothing is typed by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from activegan.io import atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
STATE = REPO / "runs" / "bench"  # resumable state (model weights): git-ignored, never under docs/
SHARED = REPO.parent / "shared" / "datasets"
DATA_DIRS = {"mnist": SHARED / "mnist", "cifar10": SHARED / "cifar10-jpeg.zip"}  # the full runs' datasets


def one_thread() -> None:
    """Long runs use one thread: on the shared 2-core machine 2 threads ran 2.5-3x slower."""
    import torch

    torch.set_num_threads(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except (ImportError, AttributeError):
        pass


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return ", ".join(f for f in ("avx2", "avx512f", "fma") if f in flags)


def shared_machine_words(idle: str = "an idle core") -> str:
    """The caveat under a timing: the load at start, and that the seconds are upper bounds."""
    return (f"Timed on a shared machine (load average at start {' / '.join(map(str, machine()['load_average_at_start']))}): "
            f"other jobs may run beside it, so the seconds are upper bounds of what {idle} would take.")


def machine() -> dict:
    import numpy
    import torch

    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def machine_line(m: dict) -> str:
    """One line describing a machine record (``machine()``)."""
    flags = f" ({m['cpu_flags']})" if m.get("cpu_flags") else ""
    return (
        f"{m['cores']} cores, {m['cpu_model']}{flags}, {m['memory_gib']} GiB; load average at start "
        f"{' / '.join(str(x) for x in m['load_average_at_start'])} (the machine is shared); "
        f"Python {m['python']}, torch {m['torch']}, NumPy {m['numpy']}"
    )


def command(module: str, argv: list[str]) -> str:
    return shlex.join(["python", "-m", f"benchmarks.{module}", *argv])


def module_command(cmd: str) -> str:
    """A recorded command in today's form: ``python benchmarks/x.py ARGS`` (how the benchmarks
    were started before they became a package) → ``python -m benchmarks.x ARGS``; others unchanged."""
    parts = shlex.split(cmd)
    if len(parts) >= 2 and parts[0] == "python" and parts[1].startswith("benchmarks/") and parts[1].endswith(".py"):
        return shlex.join(["python", "-m", "benchmarks." + parts[1][len("benchmarks/"):-3], *parts[2:]])
    return cmd


def recorded_command(runlog_path: Path, cmd: str) -> str:
    """The command that started the run logged at ``runlog_path`` (``cmd`` if none is logged)."""
    if not Path(runlog_path).exists():
        return cmd
    inv = read_json(runlog_path).get("invocations", [])
    return inv[0]["command"].removesuffix(" --resume") if inv else cmd


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def fmt_ratio(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def extra_mib(measured: dict, baseline: dict) -> float:
    """MiB of peak RSS a computation added over its baseline process (same imports and data), ≥ 0."""
    return max(measured["peak_rss_mib"] - baseline["peak_rss_mib"], 0.0)


def fmt_mib(mib: float) -> str:
    return "< 1" if mib < 1 else f"{mib:,.0f}"


def fmt_mem_ratio(theirs: float, ours: float) -> str:
    """theirs ÷ ours; below 1 MiB (the resolution that matters for peak RSS) ours counts as 1 MiB, a lower bound."""
    return f"> {fmt_ratio(theirs)}" if ours < 1 else fmt_ratio(theirs / ours)


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


class RunLog:
    """Wall time of every invocation of a resumable benchmark, kept in a JSON file.

    A heartbeat rewrites this invocation's elapsed time every ``every`` seconds, so a run that
    is killed still counts (to within ``every``). The total is what the README reports.
    """

    def __init__(self, path: Path, cmd: str, every: float = 30.0):
        self.path, self.every = Path(path), every
        self.log = json.loads(self.path.read_text()) if self.path.exists() else {"invocations": []}
        self.entry = {"command": cmd, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_s": 0.0, "finished": False}
        self.log["invocations"].append(self.entry)
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> RunLog:
        self.save()
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.save()

    def save(self) -> None:
        """Write this invocation's elapsed time and entries now (the heartbeat does it every ``every`` s)."""
        self.entry["wall_s"] = round(time.perf_counter() - self._t0, 1)
        atomic_write_json(self.path, self.log)

    def __exit__(self, exc_type, *_) -> None:
        self._stop.set()
        self.entry["finished"] = exc_type is None
        self.save()

    @property
    def total_s(self) -> float:
        return sum(e["wall_s"] for e in self.log["invocations"])


# -- the run record: what the README says about a run, committed beside its data -------------------
#
# ``run.json`` in a results folder: the command that started the run, its first start and last end
# (UTC), wall time summed over invocations, their number, the machine of the last invocation that
# recorded one, worker processes, and benchmark-specific entries (the model oracle's judge and
# acceptances). Written from the run log in ``runs/bench/`` (git-ignored) whenever a report is
# written from a run; a fresh checkout rewrites every README from it.

UTC = "%Y-%m-%dT%H:%M:%SZ"
STANDARD_LOG_KEYS = ("command", "started", "wall_s", "finished", "machine", "jobs")


def run_record(runlog: dict, **extra) -> dict:
    """The run record of a RunLog's contents (its invocations) plus ``extra`` entries."""
    import calendar

    inv = runlog.get("invocations", [])
    if not inv:
        return {"invocations": 0, **extra}
    end = max(calendar.timegm(time.strptime(i["started"], UTC)) + i["wall_s"] for i in inv)
    last = next((i for i in reversed(inv) if "machine" in i), {})
    rec = {
        "command": inv[0]["command"].removesuffix(" --resume"),
        "started": inv[0]["started"],
        "ended": time.strftime(UTC, time.gmtime(end)),
        "wall_s": round(sum(i["wall_s"] for i in inv), 1),
        "invocations": len(inv),
        "machine": last.get("machine"),
        "jobs": last.get("jobs", 1),
    }
    for key in dict.fromkeys(k for i in inv for k in i if k not in STANDARD_LOG_KEYS):  # e.g. reference_epochs, test_subset
        rec[key] = next(i[key] for i in reversed(inv) if key in i)
    rec.update(extra)
    rec["invocation_log"] = inv
    return rec


def dates_bullet(run: dict | None, note: str = "") -> str:
    """'- Dates (UTC): first start to last end; wall time' from a run record (the end is the last
    invocation's start plus its wall time, not the moment the README is written)."""
    if not run or not run.get("invocations"):
        return "- Dates (UTC): –; wall time 0 s."
    return (f"- Dates (UTC): {run['started']} to {run['ended']}; wall time {fmt_seconds(run['wall_s'])} over "
            f"{run['invocations']} invocation(s){note}.")


def machine_bullet(run: dict | None) -> str:
    """'- Machine: …' of a run record (a run that is still starting may not have one yet)."""
    m = (run or {}).get("machine")
    jobs = (run or {}).get("jobs", 1)
    procs = "one process, one thread" if jobs == 1 else f"{jobs} processes, one thread each"
    return f"- Machine: {machine_line(m)}; {procs}." if m else "- Machine: –"


def write_readme(path: Path, text: str) -> None:
    atomic_write_text(path, text.rstrip() + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def read_json_if(path: Path, default=None):
    return read_json(path) if Path(path).exists() else default


# -- statistics in words (the statistics themselves: activegan.results) ----------------------------


def fmt_p(p: float | None) -> str:
    return "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.2f}" if p >= 0.01 else f"{p:.3f}")


def p_words(p: float | None) -> str:
    """'p = 0.08', 'p < 0.001', or 'no p (one seed)'."""
    if p is None:
        return "no p (no spread over seeds)"
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_ci(ci, digits: int = 4) -> str:
    return "–" if not ci else f"[{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def add_to_run_record(path: Path, module: str, argv: list[str] | None, t0: float, keep: bool) -> None:
    """A validation benchmark's record (commands, date, seconds, machine): this invocation added to the record at
    ``path`` when ``keep`` (a resumed or shared run), else a new one."""
    m = machine()
    run = json.loads(path.read_text()) if keep and path.exists() else {"commands": [], "seconds": 0.0}
    run["commands"].append(f"python -m benchmarks.{module} " + " ".join(sys.argv[1:] if argv is None else argv))
    run.update(date=time.strftime("%Y-%m-%d", time.gmtime(t0)), seconds=round(run["seconds"] + time.time() - t0, 1),
               machine=f"{m['cpu_model']} ({m['cores']} cores)")
    atomic_write_json(path, run)


def rerender(page: Path, types: dict, render) -> None:
    """``page`` (x.md) rewritten from the CSV beside it (x.csv): its rows with the columns in ``types`` converted
    (column → type), then ``render(rows, old page text)``."""
    with open(page.with_suffix(".csv"), newline="") as f:
        rows = [{**r, **{k: t(r[k]) for k, t in types.items()}} for r in csv.DictReader(f)]
    write_readme(page, render(rows, page.read_text()))


def write_rows_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` (dicts with the same keys) as a CSV file, written atomically, columns in the first row's order."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
