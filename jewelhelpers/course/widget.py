"""An upload app for notebooks and `jewel app`: drop photos, see each one's top-k, `unknown` below a threshold.

The logic lives in `UploadApp.render(value)`, which takes what ipywidgets 8's `FileUpload.value` holds (a
tuple of dicts with `name` and `content`) and returns one `Rendered` item per file, so it can be tested
without a browser; the widgets only call it. Each photo is shown as text (its name, the answer and the top-k
with their probabilities: `Rendered.text`, HTML) above a picture: with the torch engine the photo as the model
sees it, its Grad-CAM and the top-k as bars; with an ONNX engine a thumbnail. A file that is not an image, is
damaged or too large gets one line saying so, and the app goes on with the others. The readable photos of one
upload go through the model in one batch.

Taught in: 04_inference_and_deployment.ipynb; served as a web page by `jewel app` (`jewelhelpers.app`).
"""
from __future__ import annotations

import html
import io
import re
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.figure import Figure
from PIL import Image, UnidentifiedImageError

from ..core.errors import JewelError
from ..core.figures import figure_png, new_figure
from ..core.forward import preprocess
from ..core.images import open_rgb
from ..core.interpret import grad_cam, model_view
from ..core.predictor import UNKNOWN, Prediction, Predictor, decide

MAX_UPLOAD_MB = 20  # per photo: a larger file is refused with a message, never decoded
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
THUMBNAIL = 160  # pixels, the longer side of the thumbnail shown with an ONNX engine
READ_FORMATS = "JPEG, PNG, WebP, BMP, GIF or TIFF"
STYLE = """<style>
.jewel-result {font-size: 14px; line-height: 1.35; max-width: 60em}
.jewel-result table {border-collapse: collapse; margin-top: 2px}
.jewel-result td {padding: 0 6px 0 0; white-space: nowrap}
.jewel-bar {display: inline-block; height: 9px; background: #1f77b4; vertical-align: middle}
.jewel-unknown {color: #a05a00; font-weight: bold}
.jewel-error {color: #b00020}
</style>"""


@dataclass
class Rendered:
    """One uploaded file as shown: its prediction (None when unreadable), the error, the widget and its text (HTML)."""

    name: str
    prediction: Prediction | None
    error: str | None
    widget: widgets.Widget
    text: str = ""


class UploadApp:
    """FileUpload (several photos) + confidence slider -> per photo: its top-k as text, and a picture.

    Show it with `app.ui`. The picture is the photo, its Grad-CAM overlay and the top-k as bars with the torch
    engine; Grad-CAM needs the torch model, so with an ONNX engine it is a thumbnail of the photo.

    Taught in: 04_inference_and_deployment.ipynb.
    """

    def __init__(self, predictor: Predictor, top_k: int = 3, threshold: float = 0.5,
                 max_bytes: int = MAX_UPLOAD_BYTES):
        self.predictor, self.top_k, self.max_bytes = predictor, top_k, max_bytes
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Photos")
        self.threshold = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01,
                                             description="unknown <", readout_format=".2f")
        self.status = widgets.HTML(f"Pick one or several photos ({READ_FORMATS}; at most "
                                   f"{max_bytes / 2**20:g} MB each).")
        self.results = widgets.Box(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.upload.observe(self.on_upload, names="value")
        self.threshold.observe(lambda _: self.refresh(self.upload.value), names="value")
        self.ui = widgets.VBox([widgets.HTML(STYLE), widgets.HBox([self.upload, self.threshold]), self.status,
                                self.results])

    def on_upload(self, change: dict) -> None:
        """FileUpload callback: render the new value."""
        self.refresh(change["new"])

    def refresh(self, value: Sequence[dict]) -> None:
        """Render `value` into the results box and say how it went; an unexpected error is shown, never fatal."""
        if not value:
            return
        start = time.perf_counter()
        self.status.value = f"reading {len(value)} file{'s' * (len(value) != 1)}…"
        try:
            items = self.render(value)
        except Exception as e:  # a widget callback's exception would vanish into the kernel's log
            traceback.print_exc(file=sys.stderr)
            self.status.value = (f'<span class="jewel-error">something went wrong with this upload '
                                 f'({html.escape(type(e).__name__)}: {html.escape(str(e))}); the app is still '
                                 'running: try again, or with fewer photos</span>')
            return
        self.show(items)
        n_ok = sum(i.prediction is not None for i in items)
        self.status.value = (f'<span class="jewel-status">{len(items)} file{"s" * (len(items) != 1)}: {n_ok} '
                             f'classified, {len(items) - n_ok} not read ({time.perf_counter() - start:.1f} s)</span>')

    def show(self, items: list[Rendered]) -> None:
        """Put the rendered items in the results box, replacing what was there."""
        self.results.children = [item.widget for item in items]

    def render(self, value: Sequence[dict]) -> list[Rendered]:
        """One Rendered per uploaded file (dicts with `name` and `content` bytes/memoryview), in order.

        The readable photos go through the model together, in batches.
        """
        names = [str(f["name"]) for f in value]
        out: list[Rendered | None] = [None] * len(value)
        images: dict[int, Image.Image] = {}
        for i, f in enumerate(value):
            try:
                images[i] = self.read(names[i], f["content"])
            except JewelError as e:
                out[i] = self.error_item(names[i], str(e))
        if images:
            order = list(images)
            probs, ok, errors = self.predictor.probabilities([images[i] for i in order])
            for j, message in errors.items():
                out[order[j]] = self.error_item(names[order[j]], self.reason(names[order[j]], message))
            for j, p in zip(ok, probs):
                i = order[j]
                pred = decide(p, self.predictor.classes, self.top_k, self.threshold.value)
                out[i] = self.result_item(names[i], images[i], pred)
        return [item for item in out if item is not None]

    def render_one(self, name: str, content: bytes) -> Rendered:
        """One file: its text and picture, or its name and why it cannot be read."""
        return self.render([{"name": name, "content": content}])[0]

    def read(self, name: str, content: bytes | memoryview) -> Image.Image:
        """The upload as an RGB image; JewelError with one clear line when it is empty, too large or not an image."""
        size = memoryview(content).nbytes
        if size == 0:
            raise JewelError(f"{name}: the file is empty")
        if size > self.max_bytes:
            raise JewelError(f"{name}: {size / 2**20:.1f} MB is over the {self.max_bytes / 2**20:g} MB limit "
                             "per photo; not read (make it smaller, e.g. export it as a JPEG)")
        try:
            return open_rgb(bytes(content))
        except JewelError as e:
            if isinstance(e.__cause__, UnidentifiedImageError):
                raise JewelError(f"{name}: not an image, or a damaged one: it cannot be read as a {READ_FORMATS} "
                                 "photo") from e
            raise JewelError(self.reason(name, str(e))) from e

    @staticmethod
    def reason(name: str, message: str) -> str:
        """A message of `open_rgb` about uploaded bytes, worded with the file's name."""
        return re.sub(r"<_io\.BytesIO object at \w+>", "the upload", message.replace("<bytes>", name))

    def error_item(self, name: str, message: str) -> Rendered:
        text = (f'<div class="jewel-result jewel-error" data-file="{html.escape(name)}">'
                f'<b>{html.escape(name)}</b>: {html.escape(message.removeprefix(f"{name}: "))}</div>')
        card = widgets.HTML(text, layout=widgets.Layout(border="1px solid #e8b4b4", padding="6px", margin="4px",
                                                        max_width="32em"))
        return Rendered(name, None, message, card, text)

    def result_item(self, name: str, img: Image.Image, pred: Prediction) -> Rendered:
        text = result_html(name, pred, self.threshold.value)
        if self.predictor.torch_model is None:  # ONNX: no Grad-CAM, a thumbnail of the photo
            jpeg, (w, h) = thumbnail_jpeg(img)
            picture = widgets.Image(value=jpeg, format="jpeg", layout=widgets.Layout(width=f"{w}px", height=f"{h}px"))
        else:
            picture = widgets.Image(value=figure_png(self.figure(img, pred)), format="png")
        card = widgets.VBox([widgets.HTML(text), picture],
                            layout=widgets.Layout(border="1px solid #ddd", padding="6px", margin="4px"))
        return Rendered(name, pred, None, card, text)

    def figure(self, img: Image.Image, pred: Prediction) -> Figure:
        """The photo as the model sees it, its Grad-CAM for the best guess, and the top-k (torch engine only)."""
        view = model_view(img, self.predictor.meta)
        fig = new_figure((9, 2.8))
        ax_img, ax_cam, ax_bar = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.4]})
        ax_img.imshow(view)
        ax_img.set_title(f"{pred.label}" + (f" (best guess {pred.best_guess})" if pred.label != pred.best_guess else ""),
                         fontsize=9)
        x = preprocess(img, self.predictor.meta)
        cam = grad_cam(self.predictor.torch_model, x[None], self.predictor.classes.index(pred.best_guess))[0]
        ax_cam.imshow(view)
        ax_cam.imshow(cam.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax_cam.set_title(f"Grad-CAM: {pred.best_guess}", fontsize=9)
        for ax in (ax_img, ax_cam):
            ax.axis("off")
        labels, probs = zip(*pred.top_k[::-1])
        ax_bar.barh(labels, probs, color=["tab:blue"] * (len(probs) - 1) + ["tab:orange"])
        ax_bar.axvline(self.threshold.value, color="grey", linestyle="--")
        ax_bar.set(xlim=(0, 1), xlabel="probability")
        return fig


def result_html(name: str, pred: Prediction, threshold: float) -> str:
    """One photo's answer as HTML: its name, the label (or `unknown` with the best guess), the top-k with bars."""
    if pred.label == UNKNOWN:
        answer = (f'<span class="jewel-label jewel-unknown">{UNKNOWN}</span>: best guess '
                  f'{html.escape(pred.best_guess)} at {pred.probability:.1%}, below the {threshold:.0%} threshold')
    else:
        answer = f'<span class="jewel-label">{html.escape(pred.label)}</span> {pred.probability:.1%}'
    rows = "".join(f'<tr><td class="jewel-class">{html.escape(c)}</td>'
                   f'<td><span class="jewel-bar" style="width:{round(100 * p)}px"></span></td>'
                   f'<td class="jewel-prob">{p:.1%}</td></tr>' for c, p in pred.top_k)
    return (f'<div class="jewel-result" data-file="{html.escape(name)}"><b class="jewel-name">{html.escape(name)}</b>: '
            f'{answer}<table class="jewel-top">{rows}</table></div>')


def thumbnail_jpeg(img: Image.Image, side: int = THUMBNAIL) -> tuple[bytes, tuple[int, int]]:
    """A small JPEG of the photo, its longer side `side` pixels at most, and its size."""
    small = img.copy()
    small.thumbnail((side, side))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=85)
    return buf.getvalue(), small.size
