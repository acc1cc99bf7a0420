"""`jewel app` in a real browser: the server on a loopback port, headless Chromium (Debian's) driven by Playwright.

Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it) and the dev extra's playwright; without
them these tests are skipped with a warning that says so. Playwright's own browser downloads are never used.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from jewelhelpers.app import check_port, prepare, voila_command
from jewelhelpers.core.drawing import CLASSES, draw_item
from jewelhelpers.core.errors import JewelError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
JEWEL = Path(sys.executable).with_name("jewel")
N_MANY, MANY_SECONDS = 20, 10.0


@pytest.fixture(scope="module")
def chromium():
    """Playwright's Chromium API on Debian's browser; skipped, loudly, when either is missing."""
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser test"
        warnings.warn(reason, UserWarning)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed: pip install -c constraints.txt -e '.[dev]' to run the browser test"
        warnings.warn(reason, UserWarning)
        pytest.skip(reason)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def ctrl_c_as_in_a_terminal() -> None:
    """Ctrl-C's default action in the child, as a terminal gives it: a test run started in the background (`cmd &`
    in a script) ignores SIGINT, and that would pass to `jewel app`, which then never hears the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Server:
    """`jewel app RUN --port P` as a user starts it; `stop()` presses Ctrl-C (SIGINT) and returns its exit status."""

    def __init__(self, run: Path, log: Path, *args: str):
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}/"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([str(JEWEL), "app", str(run), "--port", str(self.port), *args],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
                                         env=os.environ | {"CUDA_VISIBLE_DEVICES": ""}, preexec_fn=ctrl_c_as_in_a_terminal)
        deadline = time.monotonic() + 120
        while "press Ctrl-C to stop" not in self.output():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()[-3000:]
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


@pytest.fixture(scope="module")
def app_run(tiny_run, tmp_path_factory) -> Path:
    """A copy of the tiny run with its ONNX model exported (as `jewel app` does before serving)."""
    from jewelhelpers.core.onnx import onnx_file
    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("app") / "tiny")
    onnx_file(run)
    return run


@pytest.fixture(scope="module")
def resnet50_run(tiny_run, tmp_path_factory) -> Path:
    """An untrained ResNet50 run at the quick profile's 288 px (its default backbone): the app's real speed."""
    import torch
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.onnx import onnx_file
    from jewelhelpers.core.runs import META, read_meta, save_weights, write_json
    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("app") / "resnet50")
    torch.manual_seed(0)
    save_weights(run, build_model("resnet50", len(CLASSES), pretrained=False).model)
    write_json(run / META, read_meta(run) | {"arch": "resnet50", "size": 288, "presize": 320})
    onnx_file(run)
    return run


def drawn(label: str, seed: int, size: int = 256) -> bytes:
    buf = BytesIO()
    draw_item(label, np.random.default_rng(seed), size).save(buf, format="PNG")
    return buf.getvalue()


def open_app(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url, timeout=120_000)
    button = page.locator(".widget-upload")
    button.wait_for(timeout=120_000)  # the kernel has started and built the widget
    return page, button


def pick(page, button, files: list[Path]) -> float:
    """Pick `files` with the Photos button's file dialog, as a person does; the time the dialog was answered."""
    with page.expect_file_chooser() as chooser:
        button.click()
    start = time.perf_counter()
    chooser.value.set_files([str(f) for f in files])
    return start


@pytest.mark.browser
def test_page_shows_the_top_label_and_a_clear_error_and_writes_nothing(chromium, app_run, tmp_path):
    from jewelhelpers.core.predictor import Predictor
    ring, notes, dropped = tmp_path / "ring.png", tmp_path / "notes.txt", tmp_path / "dropped.png"
    ring.write_bytes(drawn("ring", 0))
    notes.write_text("not a photo at all\n")
    dropped.write_bytes(drawn("ring", 1))
    expected = Predictor.from_run(app_run, "onnx").predict(ring.read_bytes(), top_k=3, min_confidence=0.5)
    before = snapshot(app_run)
    server = Server(app_run, tmp_path / "server.log")
    try:
        page, button = open_app(chromium, server.url)
        assert "jewel-vision" in page.content() and "unknown" in page.locator("body").inner_text()
        pick(page, button, [ring, notes])
        result = page.locator('.jewel-result[data-file="ring.png"]')
        error = page.locator('.jewel-result[data-file="notes.txt"]')
        result.wait_for(timeout=60_000)
        error.wait_for(timeout=60_000)
        text = result.inner_text()
        assert f"{expected.best_guess}" in text and expected.label in text
        assert f"{expected.probability:.1%}" in text
        top = [c.inner_text() for c in result.locator(".jewel-class").all()]
        assert top == [c for c, _ in expected.top_k] and len(top) == 3
        assert "notes.txt" in error.inner_text() and "not an image" in error.inner_text()
        assert "1 not read" in page.locator(".jewel-status").inner_text()
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        # the server kept going: a photo dropped on the page afterwards is classified too
        page.evaluate("""async (b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
            document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""", base64.b64encode(dropped.read_bytes()).decode())
        page.locator('.jewel-result[data-file="dropped.png"]').wait_for(timeout=60_000)
        page.close()
    finally:
        code = server.stop()
    print(f"screenshot: {tmp_path / 'app.png'}")
    assert code == 0 and server.output().strip().endswith("jewel app: stopped"), server.output()[-2000:]
    assert snapshot(app_run) == before, "the app wrote into the run folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.png", "dropped.png", "notes.txt", "ring.png",
                                                           "server.log"], "the app wrote into its working folder"


@pytest.mark.browser
def test_twenty_photos_at_once_are_answered_within_ten_seconds(chromium, resnet50_run, tmp_path):
    from PIL import Image
    files = []
    for i in range(N_MANY):
        path = tmp_path / f"photo_{i:02d}.jpg"
        Image.open(BytesIO(drawn(CLASSES[i % len(CLASSES)], 100 + i, 480))).save(path, quality=90)
        files.append(path)
    server = Server(resnet50_run, tmp_path / "server.log", "--engine", "onnx")
    try:
        page, button = open_app(chromium, server.url)
        start = pick(page, button, files)
        page.get_by_text(f"{N_MANY} files: {N_MANY} classified").wait_for(timeout=60_000)
        seconds = time.perf_counter() - start
        assert page.locator(".jewel-result").count() == N_MANY
        page.screenshot(path=str(tmp_path / "twenty.png"))
        page.close()
    finally:
        server.stop()
    print(f"{N_MANY} photos (480 px JPEG, ResNet50 at 288 px, ONNX) answered in the page in {seconds:.1f} s")
    assert seconds < MANY_SECONDS


def test_the_server_says_which_port_is_taken_and_writes_its_notebook_and_command(tmp_path):
    """No browser needed: a busy port is one clear error; Voilà is told exactly the host, port and folders."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(JewelError, match=f"127.0.0.1:{port}.*--port"):
            check_port("127.0.0.1", port)
    with pytest.raises(JewelError, match="--host 999.1.1.1: not an address"):
        check_port("999.1.1.1", 8899)
    notebook, folders = prepare(tmp_path)
    assert "page()" in json.loads(notebook.read_text())["cells"][0]["source"]
    assert all(Path(folder).is_relative_to(tmp_path) for folder in folders.values())
    config = json.loads((Path(folders["JUPYTER_CONFIG_DIR"]) / "voila.json").read_text())
    assert config["Voila"]["tornado_settings"]["websocket_max_message_size"] >= 20 * 2**20 * N_MANY
    cmd = voila_command(notebook, "127.0.0.1", 9999, tmp_path)
    assert cmd[:4] == [sys.executable, "-m", "voila", str(notebook)]
    assert "--no-browser" in cmd and "--port=9999" in cmd and "--Voila.ip=127.0.0.1" in cmd
    assert f"--Voila.connection_dir_root={tmp_path}" in cmd and "--Voila.port_retries=0" in cmd


def test_jewel_app_refuses_a_folder_that_is_no_run_and_a_bad_threshold(tmp_path, capsys):
    from jewelhelpers.cli import main
    assert main(["app", str(tmp_path), "--port", str(free_port())]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert main(["app", str(tmp_path), "--min-confidence", "2"]) == 2
    assert "--min-confidence must be between 0 and 1" in capsys.readouterr().err
