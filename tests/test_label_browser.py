"""The labeling page in real headless Chromium: label a batch with clicks and keys, undo, see the
next batch appear without a reload, correct a label in the gallery; the labels are in SQLite."""

import os
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the labeling app needs the 'app' extra: pip install -e '.[app]'")
pytest.importorskip("playwright.sync_api", reason="browser test needs the python package playwright (pip install playwright)")
CHROMIUM = os.environ.get("ACTIVEGAN_CHROMIUM", "/usr/bin/chromium")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"browser test needs Chromium at {CHROMIUM} (Debian: apt-get install chromium); "
                "never `playwright install` here", allow_module_level=True)

import uvicorn
from playwright.sync_api import expect, sync_playwright

from activegan.label.cli import bind_socket
from activegan.label.session import LabelConfig, LabelSession
from activegan.label.store import SKIP
from activegan.label.web import create_app

TOKEN = "browser-token"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def digits(small_digits):
    return small_digits


@pytest.fixture
def server(tmp_path, digits):
    """A real uvicorn server on a free 127.0.0.1 port, in a thread; yields (session, page URL)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    session = LabelSession(tmp_path / "state", digits, LabelConfig("digits", "entropy", query_size=4, steps=10)).open()
    sock = bind_socket("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(create_app(session, TOKEN), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "uvicorn did not start"
    yield session, f"http://127.0.0.1:{sock.getsockname()[1]}/?token={TOKEN}"
    srv.should_exit = True
    thread.join(timeout=10)
    session.close()
    sock.close()
    torch.set_num_threads(threads)


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        yield page
        browser.close()


def truth(digits, item_id: str) -> str:
    return digits.classes[digits.y_pool[int(item_id[1:])]]


def focused(page) -> str:
    return page.locator("#item-id").inner_text()


def test_label_a_batch_with_clicks_and_keys_and_see_the_next_one(server, page, digits):
    session, url = server
    page.goto(url)
    expect(page.locator(".thumb")).to_have_count(4)
    ids = [page.locator(".thumb img").nth(i).get_attribute("alt") for i in range(4)]
    assert focused(page) == ids[0]
    expect(page.locator("#round-text")).to_have_text("Round 1")

    page.locator(f'#buttons .cls[data-label="{truth(digits, ids[0])}"]').click()  # a click
    expect(page.locator("#item-id")).to_have_text(ids[1])
    page.keyboard.press(truth(digits, ids[1]))  # a key
    expect(page.locator("#item-id")).to_have_text(ids[2])
    page.keyboard.press("x")  # skip
    expect(page.locator("#item-id")).to_have_text(ids[3])
    page.keyboard.press("z")  # undo the skip: back to that image, unlabeled again
    expect(page.locator("#item-id")).to_have_text(ids[2])
    expect(page.locator(".thumb.labeled")).to_have_count(2)
    page.keyboard.press("ArrowRight")
    expect(page.locator("#item-id")).to_have_text(ids[3])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(truth(digits, ids[2]))
    page.keyboard.press("x")

    # The batch is complete: retraining in the background, then round 2 without a reload.
    expect(page.locator("#round-text")).to_have_text("Round 2", timeout=60_000)
    expect(page.locator("#curve circle")).to_have_count(1)
    expect(page.locator("#curve rect.est-dot")).to_have_count(1)  # the accuracy estimate beside the test curve
    expect(page.locator("#stop-signal")).to_contain_text("keep labeling")
    new_ids = [page.locator(".thumb img").nth(i).get_attribute("alt") for i in range(4)]
    assert not set(new_ids) & set(ids)

    stored = {i.id: i.label for i in session.store.labeled()}
    assert stored == {ids[0]: truth(digits, ids[0]), ids[1]: truth(digits, ids[1]), ids[2]: truth(digits, ids[2]), ids[3]: SKIP}

    # The gallery: correct the skipped image to a class.
    page.locator("#tab-gallery").click()
    expect(page.locator(".tile")).to_have_count(4)
    page.locator(f'.tile:has(img[alt="{ids[3]}"])').click()
    expect(page.locator("#modal")).to_be_visible()
    page.keyboard.press("7")
    expect(page.locator("#modal")).to_be_hidden()
    expect(page.locator(f'.tile:has(img[alt="{ids[3]}"]) .lab')).to_have_text("7")
    assert session.store.item(ids[3]).label == "7"
    assert page.errors == []


def test_the_page_without_the_token_is_refused(server, page):
    _, url = server
    response = page.goto(url.split("?")[0])
    assert response.status == 401
    assert "missing or wrong token" in page.content()
