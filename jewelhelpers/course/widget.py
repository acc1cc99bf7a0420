"""An upload app for notebooks: drop photos, see each one's top-k, its Grad-CAM, and `unknown` below a threshold.

The logic lives in `UploadApp.render(value)`, which takes what ipywidgets 8's `FileUpload.value` holds (a
tuple of dicts with `name` and `content`) and returns one `Rendered` item per file, so it can be tested
without a browser; the widgets only call it.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.figure import Figure
from PIL import Image

from ..core.errors import JewelError
from ..core.figures import figure_png, new_figure
from ..core.forward import preprocess
from ..core.images import open_rgb
from ..core.interpret import grad_cam, model_view
from ..core.predictor import Prediction, Predictor


@dataclass
class Rendered:
    """One uploaded file as shown: its prediction (None when unreadable), the error, and the widget."""

    name: str
    prediction: Prediction | None
    error: str | None
    widget: widgets.Widget


class UploadApp:
    """FileUpload (several photos) + confidence slider -> per photo: image, top-k bar chart, Grad-CAM overlay.

    Show it with `app.ui`. Grad-CAM needs the torch engine; with an ONNX engine that panel says so.

    Taught in: 04_inference_and_deployment.ipynb.
    """

    def __init__(self, predictor: Predictor, top_k: int = 3, threshold: float = 0.5):
        self.predictor, self.top_k = predictor, top_k
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Photos")
        self.threshold = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01,
                                             description="unknown <", readout_format=".2f")
        self.results = widgets.VBox()
        self.upload.observe(self.on_upload, names="value")
        self.threshold.observe(lambda _: self.show(self.render(self.upload.value)), names="value")
        self.ui = widgets.VBox([widgets.HBox([self.upload, self.threshold]), self.results])

    def on_upload(self, change: dict) -> None:
        """FileUpload callback: render the new value."""
        self.show(self.render(change["new"]))

    def show(self, items: list[Rendered]) -> None:
        """Put the rendered items in the results box, replacing what was there."""
        self.results.children = [item.widget for item in items]

    def render(self, value: Sequence[dict]) -> list[Rendered]:
        """One Rendered per uploaded file (dicts with `name` and `content` bytes/memoryview), in order."""
        return [self.render_one(f["name"], bytes(f["content"])) for f in value]

    def render_one(self, name: str, content: bytes) -> Rendered:
        """One file: its figure and prediction, or its name and why it cannot be read."""
        try:
            img = open_rgb(content)
        except JewelError as e:
            message = re.sub(r"<_io\.BytesIO object at \w+>", "the upload", str(e).replace("<bytes>", name))
            return Rendered(name, None, message, widgets.HTML(f"<b>{html.escape(name)}</b>: {html.escape(message)}"))
        pred = self.predictor.predict(img, self.top_k, self.threshold.value)
        png = figure_png(self.figure(img, pred))
        return Rendered(name, pred, None, widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>"),
                                                        widgets.Image(value=png, format="png")]))

    def figure(self, img: Image.Image, pred: Prediction) -> Figure:
        """The photo as the model sees it, its Grad-CAM for the best guess, and the top-k probabilities."""
        view = model_view(img, self.predictor.meta)
        fig = new_figure((9, 2.8))
        ax_img, ax_cam, ax_bar = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.4]})
        ax_img.imshow(view)
        ax_img.set_title(f"{pred.label}" + (f" (best guess {pred.best_guess})" if pred.label != pred.best_guess else ""),
                         fontsize=9)
        model = self.predictor.torch_model
        if model is None:
            ax_cam.text(0.5, 0.5, "Grad-CAM needs\nthe torch engine", ha="center", va="center")
        else:
            x = preprocess(img, self.predictor.meta)
            cam = grad_cam(model, x[None], self.predictor.classes.index(pred.best_guess))[0]
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


