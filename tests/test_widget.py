"""The upload widget's callback, driven directly with what ipywidgets 8's FileUpload.value holds."""
from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from jewelhelpers.core.predictor import Predictor
from jewelhelpers.course.widget import UploadApp


def _upload(name: str, content: bytes) -> dict:
    return {"name": name, "type": "image/jpeg", "size": len(content), "content": memoryview(content),
            "last_modified": 1_700_000_000_000}


@pytest.fixture(scope="module")
def app(tiny_run) -> UploadApp:
    return UploadApp(Predictor.from_run(tiny_run), top_k=2, threshold=0.0)


@pytest.fixture(scope="module")
def value(image_folder) -> tuple[dict, ...]:
    ring, watch = next(image_folder.glob("ring/*.jpg")), next(image_folder.glob("watch/*.jpg"))
    png = BytesIO()
    Image.open(watch).save(png, format="PNG")
    return (_upload("bague_été.jpg", ring.read_bytes()), _upload("broken.jpg", b"\xff\xd8\xff garbage"),
            _upload("watch.png", png.getvalue()))


def test_render_shows_each_upload_with_top_k_and_an_error_for_a_corrupt_one(app, value):
    items = app.render(value)
    assert [i.name for i in items] == ["bague_été.jpg", "broken.jpg", "watch.png"]
    broken = items[1]
    assert broken.prediction is None and "broken.jpg" in broken.error and "cannot be read" in broken.error
    assert "BytesIO" not in broken.error
    for item in (items[0], items[2]):
        pred = item.prediction
        assert item.error is None and pred.label == pred.best_guess in app.predictor.classes
        assert len(pred.top_k) == 2 and pred.top_k[0] == (pred.best_guess, pred.probability)
        png = item.widget.children[1].value
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(BytesIO(png)).width > 300  # image, Grad-CAM, bars


def test_slider_threshold_gives_unknown(app, value):
    app.threshold.value = 1.0  # the slider's observer re-renders the current upload (empty here)
    try:
        items = app.render(value)
    finally:
        app.threshold.value = 0.0
    answered = [i.prediction for i in items if i.prediction]
    assert answered and all(p.label == "unknown" and p.best_guess in app.predictor.classes for p in answered)


def test_on_upload_fills_the_results_box(app, value):
    app.on_upload({"name": "value", "old": (), "new": value})
    assert len(app.results.children) == 3
    assert "broken.jpg" in app.results.children[1].value


def test_figure_overlays_grad_cam_on_the_photo(app, value):
    from jewelhelpers.core.images import open_rgb
    img = open_rgb(bytes(value[0]["content"]))
    fig = app.figure(img, app.predictor.predict(img, top_k=2))
    photo, cam, bars = fig.axes
    assert len(photo.images) == 1 and len(cam.images) == 2 and "Grad-CAM" in cam.get_title()
    assert len(bars.patches) == 2
