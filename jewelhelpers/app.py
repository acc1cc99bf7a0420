"""`jewel app RUN_DIR`: the upload widget (`course.widget.UploadApp`) served as a web page by Voilà.

A face, like `cli.py`: `serve` writes a one-cell notebook into a new temporary folder, starts Voilà on it
(bound to 127.0.0.1 unless `host` says otherwise) and waits until Ctrl-C; the folder is removed when the server
stops. Every browser tab gets its own kernel, which runs `page()`: it reads the run folder and the engine from
`JEWEL_APP_*` variables and builds the widget. Uploads stay in that kernel's memory: nothing is written into
the run folder, the data or the working directory; Jupyter's runtime, data and config folders and IPython's
point into the temporary folder too, so the server leaves no files behind. The model is checked (and, for an
ONNX engine, exported into RUN_DIR when it has none, as `jewel predict --engine onnx` does) once, before the
server starts.

Imports stay light at module level: `jewel --help` must not load torch.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .core.errors import JewelError

ENV_RUN, ENV_ENGINE, ENV_THRESHOLD = "JEWEL_APP_RUN_DIR", "JEWEL_APP_ENGINE", "JEWEL_APP_THRESHOLD"
DEFAULT_PORT, DEFAULT_HOST, DEFAULT_ENGINE = 8866, "127.0.0.1", "onnx"
NOTEBOOK = "jewel-app.ipynb"
MAX_MESSAGE_MB = 512  # one upload (all its photos) travels as one websocket message: tornado's limit, raised
START_TIMEOUT = 120.0  # seconds for Voilà to listen
IDLE_KERNEL_S = 600  # a tab's kernel (its model, its uploads) is shut down after 10 min idle with no tab connected
STOP_TIMEOUT = 15.0  # seconds for Voilà to shut its kernels down before it is killed


def page():
    """The page's widget, built in the Voilà kernel from the `JEWEL_APP_*` variables: a title, then the upload app."""
    import html

    import ipywidgets as widgets

    from .core.predictor import Predictor
    from .course.widget import UploadApp
    run_dir, engine = Path(os.environ[ENV_RUN]), os.environ.get(ENV_ENGINE, DEFAULT_ENGINE)
    predictor = Predictor.from_run(run_dir, engine)
    app = UploadApp(predictor, top_k=3, threshold=float(os.environ.get(ENV_THRESHOLD, "0.5")))
    classes = ", ".join(predictor.classes)
    picture = "the photo as the model sees it, its Grad-CAM and the top 3 as bars" if engine == "torch" \
        else "a thumbnail (Grad-CAM needs --engine torch)"
    header = widgets.HTML(
        f"<h2>jewel-vision: which jewelry is it?</h2>"
        f"<p>Model <code>{html.escape(run_dir.name)}</code> ({html.escape(str(predictor.meta.get('arch', '?')))}, "
        f"engine {html.escape(engine)}) knows: {html.escape(classes)}. Pick one or several photos with the "
        f"<b>Photos</b> button, or drop them anywhere on this page: each gets its 3 most likely classes with their "
        f"probabilities and {picture}; below the slider's threshold the answer is <b>unknown</b>. Photos stay in "
        f"the server's memory and are never saved.</p>")
    return widgets.VBox([header, app.ui])


def app_notebook() -> dict:
    """The one-cell notebook Voilà serves: it shows `page()` and, as HTML, lets files dropped on the page upload."""
    source = "from jewelhelpers.app import drop_script, page\ndisplay(drop_script())\npage()"
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "jewel-app", "metadata": {},
                       "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


DROP_JS = """
(function () {
  if (window.jewelDrop) { return; }
  window.jewelDrop = true;
  // Files dropped anywhere on the page go to the upload button, as if picked: ipywidgets' FileUpload opens its
  // own <input type=file> on click; here that input's click is answered with the dropped files instead.
  document.addEventListener('dragover', function (e) { e.preventDefault(); }, false);
  document.addEventListener('drop', function (e) {
    e.preventDefault();
    var button = document.querySelector('.widget-upload');
    if (!button || !e.dataTransfer || !e.dataTransfer.files.length) { return; }
    var files = e.dataTransfer.files, click = HTMLInputElement.prototype.click;
    HTMLInputElement.prototype.click = function () {
      if (this.type !== 'file') { return click.call(this); }
      HTMLInputElement.prototype.click = click;
      this.files = files;
      this.dispatchEvent(new Event('change'));
    };
    try { button.click(); } finally { HTMLInputElement.prototype.click = click; }
  }, false);
})();
"""


def drop_script():
    """The page's drop handler, as an HTML output (Voilà renders it into the page, where it runs)."""
    from IPython.display import HTML
    return HTML(f"<script>{DROP_JS}</script>")


def prepare(tmp: Path) -> tuple[Path, dict[str, str]]:
    """Write the notebook and Voilà's config into `tmp`; the notebook and the Jupyter variables pointing into `tmp`.

    The config raises tornado's websocket message limit (10 MB) to MAX_MESSAGE_MB: one upload, all its photos,
    is one message. Jupyter's and IPython's own folders go into `tmp` too, so nothing is left anywhere else, and
    the kernels talk to Voilà over IPC sockets there (no TCP ports).
    """
    notebook = tmp / NOTEBOOK
    notebook.write_text(json.dumps(app_notebook(), indent=1))
    folders = {"JUPYTER_RUNTIME_DIR": tmp / "runtime", "JUPYTER_DATA_DIR": tmp / "data",
               "JUPYTER_CONFIG_DIR": tmp / "config", "IPYTHONDIR": tmp / "ipython"}
    folders["JUPYTER_CONFIG_DIR"].mkdir()
    config = {"Voila": {"tornado_settings": {"websocket_max_message_size": MAX_MESSAGE_MB * 2**20,
                                             "ws_ping_timeout": 30_000}}}  # = the ping interval: tornado's maximum
    (folders["JUPYTER_CONFIG_DIR"] / "voila.json").write_text(json.dumps(config, indent=1))
    return notebook, {name: str(path) for name, path in folders.items()}


def voila_command(notebook: Path, host: str, port: int, tmp: Path) -> list[str]:
    """The Voilà command line: no browser, exactly this host and port, connection files in `tmp`, no tracebacks.

    Voilà shuts a tab's kernel down when the tab closes; one left without a tab (a crashed browser) goes after
    IDLE_KERNEL_S seconds.
    """
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", f"--Voila.ip={host}",
            "--Voila.port_retries=0", f"--Voila.connection_dir_root={tmp}", "--Voila.log_level=ERROR",
            "--KernelManager.transport=ipc", f"--MappingKernelManager.cull_idle_timeout={IDLE_KERNEL_S}",
            "--MappingKernelManager.cull_interval=60",
            "--show_tracebacks=False", "--strip_sources=True", "--theme=light"]


def check_port(host: str, port: int) -> None:
    """JewelError unless `port` on `host` is free to listen on."""
    if not 1 <= port <= 65535:
        raise JewelError(f"--port {port}: choose a port between 1 and 65535 (default {DEFAULT_PORT})")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except socket.gaierror as e:
            raise JewelError(f"--host {host}: not an address of this machine ({e.strerror or e}); "
                             "use 127.0.0.1 (this machine only) or 0.0.0.0 (every network)") from None
        except OSError as e:
            raise JewelError(f"cannot listen on {host}:{port} ({e.strerror or e}): another program may be using "
                             "it; choose another port with --port, or check --host") from e


def local_host(host: str) -> str:
    """The address this machine reaches the server on."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def wait_until_listening(proc: subprocess.Popen, host: str, port: int, timeout: float = START_TIMEOUT) -> None:
    """Return once the server accepts connections; JewelError when it exits first or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise JewelError(f"Voilà exited with status {proc.returncode} before serving (see its messages above)")
        try:
            with socket.create_connection((local_host(host), port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise JewelError(f"Voilà did not start listening on port {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop Voilà (SIGTERM: it shuts its kernels down), killed when it does not exit in STOP_TIMEOUT seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(run_dir: str | Path, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, engine: str = DEFAULT_ENGINE,
          threshold: float = 0.5) -> int:
    """Serve the upload app for RUN_DIR until Ctrl-C (or SIGTERM); 0 once stopped. JewelError before it starts."""
    from .core.predictor import Predictor
    run_dir = Path(run_dir).expanduser().resolve()
    if not 0 <= threshold <= 1:
        raise JewelError("--min-confidence must be between 0 and 1")
    check_port(host, port)  # before the run's ONNX export, which takes seconds
    predictor = Predictor.from_run(run_dir, engine)  # a broken run fails here, and ONNX is exported once, now
    previous = signal.signal(signal.SIGTERM, _interrupt), signal.getsignal(signal.SIGINT)
    try:
        with tempfile.TemporaryDirectory(prefix="jewel-app-") as tmp_name:
            tmp = Path(tmp_name)
            notebook, folders = prepare(tmp)
            env = os.environ | folders | {ENV_RUN: str(run_dir), ENV_ENGINE: engine, ENV_THRESHOLD: str(threshold),
                                          "MPLBACKEND": "Agg"}
            proc = subprocess.Popen(voila_command(notebook, host, port, tmp), cwd=tmp, env=env)
            try:
                wait_until_listening(proc, host, port)
                print(f"jewel app: serving {run_dir.name} ({', '.join(predictor.classes)}; engine {engine}) on "
                      f"{url_of(local_host(host), port)}", flush=True)
                if host in ("0.0.0.0", "", "::"):
                    print(f"jewel app: listening on every network address of this machine (--host {host}): anyone "
                          "who can reach it can upload photos and see the predictions, without a password",
                          flush=True)
                print("jewel app: press Ctrl-C to stop", flush=True)
                code = proc.wait()
                raise JewelError(f"Voilà stopped by itself with status {code}")
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the shutdown short
                stop(proc)
                print("jewel app: stopped", flush=True)
                return 0
            finally:
                stop(proc)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
