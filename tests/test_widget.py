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
def onnx_predictor(tiny_run, tmp_path_factory) -> Predictor:
    """The ONNX engine on a copy of the tiny run (its export is written into the copy, not the shared run)."""
    import shutil
    return Predictor.from_run(shutil.copytree(tiny_run, tmp_path_factory.mktemp("widget") / "run"), engine="onnx")


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
    assert "BytesIO" not in broken.error and "broken.jpg" in broken.text and "jewel-error" in broken.text
    for item in (items[0], items[2]):
        pred = item.prediction
        assert item.error is None and pred.label == pred.best_guess in app.predictor.classes
        assert len(pred.top_k) == 2 and pred.top_k[0] == (pred.best_guess, pred.probability)
        assert item.widget.children[0].value == item.text  # the answer as text, above the picture
        assert item.name in item.text and all(f"{c}</td>" in item.text and f"{p:.1%}" in item.text
                                              for c, p in pred.top_k)
        png = item.widget.children[1].value
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(BytesIO(png)).width > 300  # image, Grad-CAM, bars


def test_render_matches_predict_one_by_one(app, value):
    """The upload is predicted in one batch; each answer is the one `predict` gives for that photo alone."""
    for item, f in zip(app.render(value), value):
        if item.prediction:
            alone = app.predictor.predict(bytes(f["content"]), top_k=2, min_confidence=0.0)
            assert item.prediction.best_guess == alone.best_guess
            assert item.prediction.probability == pytest.approx(alone.probability, abs=1e-5)


def test_not_an_image_empty_and_too_large_files_get_one_clear_line_each(onnx_predictor, value):
    onnx = UploadApp(onnx_predictor, top_k=3, max_bytes=50_000)
    ring = value[0]
    big = _upload("huge.png", b"\x89PNG" + bytes(60_000))
    items = onnx.render((_upload("notes.txt", b"shopping list: milk"), _upload("empty.jpg", b""), big, ring))
    notes, empty, huge, photo = items
    assert notes.error == ("notes.txt: not an image, or a damaged one: it cannot be read as a JPEG, PNG, WebP, BMP, "
                           "GIF or TIFF photo")
    assert empty.error == "empty.jpg: the file is empty"
    assert huge.error.startswith("huge.png: 0.1 MB is over the 0.0476837 MB limit per photo")
    assert photo.error is None and len(photo.prediction.top_k) == 3
    thumb = Image.open(BytesIO(photo.widget.children[1].value))
    assert thumb.format == "JPEG" and max(thumb.size) <= 160  # ONNX: no Grad-CAM, a thumbnail


def test_unknown_is_said_with_the_best_guess_and_the_threshold(onnx_predictor, value):
    onnx = UploadApp(onnx_predictor, threshold=1.0)
    item = onnx.render(value[:1])[0]
    assert item.prediction.label == "unknown"
    assert f"unknown</span>: best guess {item.prediction.best_guess} at" in item.text and "100% threshold" in item.text


def test_an_unexpected_error_is_shown_and_the_app_keeps_working(onnx_predictor, value, monkeypatch):
    onnx = UploadApp(onnx_predictor, threshold=0.0)
    monkeypatch.setattr(onnx.predictor, "probabilities", lambda *a, **k: 1 / 0)
    onnx.on_upload({"name": "value", "old": (), "new": value})
    assert "something went wrong" in onnx.status.value and "ZeroDivisionError" in onnx.status.value
    monkeypatch.undo()
    onnx.on_upload({"name": "value", "old": (), "new": value})
    assert "3 files: 2 classified, 1 not read" in onnx.status.value and len(onnx.results.children) == 3


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
