"""Exporting a run's model to ONNX, and an int8 version for fast CPU inference.

`model.onnx` takes a float32 batch, layout NCHW, RGB, each image prepared exactly as `forward.preprocess`
does (centre square resized to presize, resized to size, scaled to [0, 1], then normalised with the run's
mean/std), with a dynamic batch axis, and returns logits in the run's class order. All of that is recorded
in `meta.json` under "onnx", so another program (a phone app, a server) can reproduce it.

int8: static quantisation (QDQ format, per-channel int8 weights, uint8 activations) calibrated on images of
the run's train split. The head stays float32: its few small matrix products gain nothing from int8, and its
BatchNorm1d layers do not quantise per channel. Dynamic quantisation (`quantize_dynamic`) was measured and
rejected: it helps MatMul/Gemm, but its ConvInteger kernels ran a ResNet50 at 1.2 images/s against 7.0 for
float32 ONNX and 3.6 for eager PyTorch (batch 32, 224 px, 2 CPU cores), while static QDQ runs the convolutions
as int8 and was about 3x faster than float32 ONNX (benchmarks/inference_speed.py measures speed and accuracy
side by side). `jewel export` (`jobs.export`) is the verb; `core.predictor` exports on first use.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import JewelError
from .forward import preprocess
from .manifest import manifest_split
from .runs import WEIGHTS, load_model, read_meta, update_meta

ONNX_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
OPSET = 17
OUTPUTS = ("logits", "features")
N_CALIBRATION = 32
HEAD_SCOPE = "/1/"  # exported node names of the head, model[1] of Sequential(body, head)
INT8_METHOD = (f"static QDQ quantisation (onnxruntime.quantization.quantize_static) of the body: per-channel "
               f"int8 weights, uint8 activations, MinMax ranges calibrated on up to {N_CALIBRATION} train-split "
               "images; the head stays float32")


def export_onnx(run_dir: str | Path, out: str | Path | None = None, quantize: bool = False) -> Path:
    """Export RUN_DIR's model to ONNX (`RUN_DIR/model.onnx`), or int8 (`RUN_DIR/model.int8.onnx`) with `quantize`.

    Records the file and the preprocessing under "onnx" in meta.json; returns the written path.
    """
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if quantize:
        source = onnx_file(run_dir, quantize=False)
        path = Path(out) if out else run_dir / INT8_FILE
        quantize_int8(source, path, calibration_batches(run_dir, meta))
        key = "int8_file"
    else:
        path = Path(out) if out else run_dir / ONNX_FILE
        write_onnx(load_model(run_dir, "cpu")[0], int(meta["size"]), path)
        key = "file"
    update_meta(run_dir, onnx=read_meta(run_dir).get("onnx", {}) | onnx_record(meta) | {key: _relative(path, run_dir)})
    return path


def onnx_file(run_dir: str | Path, quantize: bool = False) -> Path:
    """The run's ONNX (or int8) model, exported now if missing or older than model.pth (none needed beside it)."""
    run_dir = Path(run_dir)
    recorded = read_meta(run_dir).get("onnx", {}).get("int8_file" if quantize else "file")
    path = run_dir / recorded if recorded else None  # an absolute recorded path stays absolute
    weights = run_dir / WEIGHTS
    current = read_meta(run_dir).get("onnx", {}).get("outputs") == list(OUTPUTS)  # older exports lack features
    if path and path.is_file() and current and (not weights.is_file() or path.stat().st_mtime >= weights.stat().st_mtime):
        return path
    return export_onnx(run_dir, quantize=quantize)


def onnx_record(meta: dict) -> dict:
    """What a program needs to feed the ONNX model: input layout and preprocessing, output and class order."""
    size = int(meta["size"])
    return {
        "opset": OPSET,
        "input": {"name": "input", "shape": ["batch", 3, size, size], "layout": "NCHW", "dtype": "float32",
                  "color": "RGB", "range": "[0, 1] before normalisation"},
        "preprocess": (f"apply EXIF orientation; take the centred square and resize it to {meta['presize']} px "
                       f"(bilinear), then to {size} px (bilinear, align_corners=True); divide by 255; "
                       "subtract mean and divide by std per channel"),
        "size": size, "presize": int(meta["presize"]), "mean": list(meta["mean"]), "std": list(meta["std"]),
        "output": {"name": "logits", "shape": ["batch", len(meta["classes"])],
                   "probabilities": "softmax(logits / temperature), temperature from meta.json (1 when null)"},
        "outputs": list(OUTPUTS),
        "features": {"name": "features", "shape": ["batch", "n_features"],
                     "meaning": "the body's feature map averaged over space (unknown scores, similar photos)"},
        "classes": list(meta["classes"]),
        "int8_method": INT8_METHOD,
    }


class WithFeatures(torch.nn.Sequential):
    """`Sequential(body, head)` answering (logits, pooled body features): the ONNX file's two outputs."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self[0](x)
        return self[1](maps), maps.mean(dim=(2, 3))


def write_onnx(model: torch.nn.Module, size: int, path: str | Path) -> Path:
    """Export `model` (eval mode, CPU) with the legacy TorchScript exporter, opset 17, dynamic batch; checked.

    A `Sequential(body, head)` gets a second output, `features` (the pooled body: unknown scores, retrieval).
    """
    import onnx
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    two = isinstance(model, torch.nn.Sequential) and len(model) == 2
    outputs = list(OUTPUTS) if two else ["logits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export((WithFeatures(*model) if two else model).eval(), (torch.zeros(2, 3, size, size),),
                          str(path), input_names=["input"], output_names=outputs, opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}} | {name: {0: "batch"} for name in outputs})
    onnx.checker.check_model(str(path))
    return path


def calibration_batches(run_dir: str | Path, meta: dict, n: int = N_CALIBRATION, batch_size: int = 8) -> list[np.ndarray]:
    """Preprocessed images of the run's train split (up to `n`, every class represented) to calibrate int8 ranges."""
    train = manifest_split(run_dir, meta, "train")
    picked = train.sample(frac=1.0, random_state=0).assign(
        turn=lambda d: d.groupby("label").cumcount()).sort_values("turn", kind="stable")
    tensors = []
    for path in picked["path"]:
        if len(tensors) == n:
            break
        try:
            tensors.append(preprocess(path, meta))
        except JewelError:
            continue
    if not tensors:
        raise JewelError(f"int8 quantisation needs calibration images, and none of the train split of {run_dir}'s "
                         "manifest can be read: restore the training data, or export --format onnx")
    x = torch.stack(tensors).numpy()
    return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]


def quantize_int8(source: str | Path, path: str | Path, batches: list[np.ndarray]) -> Path:
    """Static QDQ int8 quantisation of the float ONNX model `source`, calibrated on `batches`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter({"input": b} for b in batches)

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    import onnx
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        head = [n.name for n in onnx.load(str(prepared)).graph.node if n.name.startswith(HEAD_SCOPE)]
        quantize_static(str(prepared), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=head)
    return path


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())
