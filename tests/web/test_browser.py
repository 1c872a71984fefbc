"""The Segment page in a real browser: headless Chromium (Debian's) driven by Playwright's Python package."""
import os
import shutil
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

from pipeline import serve

from .conftest import RANDOM_ID
from .helpers import read_bytes, upload

CHROMIUM = os.environ.get("JMEDSEG_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; scripts/setup.sh does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    profile = tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS,
                                                       headless=True, viewport=dict(width=1280, height=900))
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served(make_app):
    """The application on a free localhost port, served from a thread: (base URL, application)."""
    app = make_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(10)


def test_segment_page_in_chromium(browser_page, served, demo_root, tmp_path):
    url, app = served
    sample = serve.demo_samples(demo_root)["P011_02"]
    page = browser_page
    page.goto(url + "/")
    assert page.locator(f"input[name=checkpoint][value='{RANDOM_ID}']").is_checked()
    page.set_input_files("#image-file", sample.image)
    page.set_input_files("#mask-file", sample.mask)
    page.click("#segment-button")
    page.wait_for_function("() => { const i = document.querySelector('#overlay-0');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=120_000)
    size = page.eval_on_selector("#overlay-0", "i => [i.naturalWidth, i.naturalHeight]")
    assert size == [128, 128]
    shown = page.inner_text("#dice-0")
    page.screenshot(path=str(tmp_path / "segment-page.png"), full_page=True)
    assert os.path.getsize(tmp_path / "segment-page.png") > 0

    answer = app.test_client().post("/api/segment", content_type="multipart/form-data", data=dict(
        checkpoint=RANDOM_ID, image=upload(read_bytes(sample.image), os.path.basename(sample.image)),
        mask=upload(read_bytes(sample.mask), os.path.basename(sample.mask)))).get_json()
    dice = answer["results"][0]["metrics"]["dice"]
    assert shown == f"{dice:.4f}"
    assert float(page.get_attribute("#dice-0", "data-value")) == dice
    assert page.is_hidden("#segment-error")
