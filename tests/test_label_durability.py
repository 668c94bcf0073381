"""kill -9 the labeling server at any moment: every label it acknowledged is there after a restart,
and the restarted server continues the same round with the same batch.

A retrain cut off by a kill is redone on restart: test_label_api checks that in-process.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx", reason="the labeling app needs the 'app' extra: pip install -e '.[app]'")
pytest.importorskip("fastapi", reason="the labeling app needs the 'app' extra: pip install -e '.[app]'")

TOKEN = "durability-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Server:
    """`activegan label` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, state, query_size=8):
        env = {**os.environ, "ACTIVEGAN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
        # the CNN from a random first batch: what is checked here does not depend on the learner, and the
        # server starts and retrains without an embedding (no numba compile in each server process)
        cmd = [sys.executable, "-m", "activegan", "label", "--dataset", "digits", "--strategy", "entropy",
               "--query-size", str(query_size), "--steps", "20", "--learner", "cnn", "--initial-strategy", "random",
               "--state", str(state), "--port", "0"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout], daemon=True).start()
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=" + TOKEN, line)
            if m:
                self.url = m.group(1)
                self.client = httpx.Client(base_url=self.url, headers=AUTH, timeout=10)
                return
        self.proc.kill()
        raise AssertionError("server did not print its URL:\n" + "".join(seen))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def batch(self) -> dict:
        return self.client.get("/api/batch").json()

    def wait_for(self, predicate, timeout=60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = self.batch()
            if predicate(b):
                return b
            time.sleep(0.05)
        raise AssertionError(f"timed out; last batch state: {b}")


@pytest.fixture
def servers():
    started = []

    def start(state, **kw):
        s = Server(state, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.kill9()
        s.client.close()


def round_ids(b) -> list[str]:
    return [i["id"] for i in sorted(b["items"] + b["done"], key=lambda i: i["position"])]


def test_kill_9_keeps_every_acknowledged_label_and_the_round(tmp_path, servers):
    state = tmp_path / "state"
    a = servers(state)
    for it in a.batch()["items"]:  # round 1, so that round 2's batch is the model's choice
        assert a.client.post("/api/label", json={"id": it["id"], "label": "0"}).status_code == 200
    before = a.wait_for(lambda b: b["round"] == 2)
    ids = round_ids(before)

    # One tab labels and relabels 6 of the 8 items as fast as it can; kill -9 lands mid-stream.
    acked: dict[str, str] = {}      # item → its last acknowledged label
    sent_after: dict[str, set] = {}  # item → labels sent after that (maybe committed, never acknowledged)
    refused: list[str] = []

    def tab():
        for n in range(100_000):  # until the dead server stops answering
            item, value = ids[n % 6], str(n % 10)
            sent_after.setdefault(item, set()).add(value)
            try:
                r = a.client.post("/api/label", json={"id": item, "label": value})
            except httpx.HTTPError:
                return
            if r.status_code != 200:
                refused.append(r.text)
                return
            acked[item], sent_after[item] = value, set()

    t = threading.Thread(target=tab)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a few more relabels in flight
    a.kill9()
    t.join(timeout=30)
    assert refused == []
    assert len(acked) == 6, f"the server acknowledged labels for {len(acked)} of the 6 items before the kill"

    b = servers(state)
    after = b.batch()
    assert after["round"] == 2 and round_ids(after) == ids  # the same round, the same stored batch
    stored = {l["id"]: l["label"] for l in b.client.get("/api/labels").json()["labels"]}
    for item, value in acked.items():
        assert stored[item] == value or stored[item] in sent_after[item], (item, value, stored[item])
    assert sorted(i["id"] for i in after["items"]) == sorted(ids[6:])
