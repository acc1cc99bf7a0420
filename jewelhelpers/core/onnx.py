"""Exporting a run's model to ONNX, and an int8 version for fast CPU inference.

`model.onnx` takes a float32 batch, layout NCHW, RGB, each image prepared exactly as `forward.preprocess`
does (centre square resized to presize, resized to size, scaled to [0, 1], then normalised with the run's
mean/std), with a dynamic batch axis, and returns logits in the run's class order. All of that is recorded
in `meta.json` under "onnx", so another program (a phone app, a server) can reproduce it.

int8: static quantisation (QDQ format, per-channel int8 weights, uint8 activations) calibrated on varied images:
train-split photos, drawn images (some worn on a hand, neck or face) and other-style views of train photos
(`core.probe.ShiftAug`: zoom-out onto other backgrounds, rotation, colour, grayscale, blur), so the ranges also
cover photos unlike the training shop's. The layers whose outputs lose most to int8 (lowest signal-to-quantisation
noise, measured on a few calibration images) stay float32, and so does the head: its few small matrix products
gain nothing from int8. `int8_agreement` measures how often int8 and float32 give the same label, on the test
split and on other shops' folders; `jewel export` prints it and keeps it in meta.json. Dynamic quantisation
(`quantize_dynamic`) was measured and rejected: its ConvInteger kernels ran a ResNet50 at 1.2 images/s against
7.0 for float32 ONNX (benchmarks/inference_speed.py measures speed and accuracy side by side). `jewel export`
(`jobs.export`) is the verb; `core.predictor` exports on first use.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import random
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .drawing import synth_items
from .errors import JewelError
from .forward import batch_logits, center_square, image_tensor
from .images import open_rgb, read_items
from .manifest import manifest_split
from .probe import ShiftAug
from .runs import WEIGHTS, load_model, read_meta, update_meta

ONNX_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
OPSET = 17
N_CALIBRATION = 96  # calibration images: a third train photos, a third drawn, a third other-style views
N_SENSITIVITY = 4  # of them, used to find the layers int8 hurts most (every activation is kept in memory)
N_FLOAT_LAYERS = 8  # that many of the body's layers stay float32
HEAD_SCOPE = "/1/"  # exported node names of the head, model[1] of Sequential(body, head)
MIN_AGREEMENT = 0.99  # int8 is trusted where it gives float32's label this often
INT8_METHOD = (f"static QDQ quantisation (onnxruntime.quantization.quantize_static): per-channel int8 weights, "
               f"uint8 activations, MinMax ranges calibrated on {N_CALIBRATION} varied images (train photos, drawn "
               f"images, other-style views of train photos); the head and the {N_FLOAT_LAYERS} body layers with the "
               "lowest signal-to-quantisation noise stay float32")


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
    if path and path.is_file() and (not weights.is_file() or path.stat().st_mtime >= weights.stat().st_mtime):
        return path
    return export_onnx(run_dir, quantize=quantize)


class OnnxModule(nn.Module):
    """An onnxruntime session behind `nn.Module`'s call, so batching and TTA treat it like the torch model.

    It holds one empty parameter only so that code asking a model for its device finds the CPU.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        import onnxruntime as ort
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])


def onnx_engine(model: nn.Module, size: int) -> OnnxModule:
    """`model` (frozen, CPU) run by onnxruntime: exported to a temporary file, loaded, the file deleted.

    The same numbers as eager PyTorch to float rounding (tests check 1e-4), several times faster on a CPU for
    EfficientNet-Lite0 (benchmarks/train_speed.py measures the engines); LP-FT's frozen pass runs on it.
    """
    with tempfile.TemporaryDirectory(prefix="jewel-frozen-") as tmp:
        return OnnxModule(write_onnx(model, size, Path(tmp) / "frozen.onnx"))


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
        "classes": list(meta["classes"]),
        "int8_method": INT8_METHOD,
    }


def write_onnx(model: torch.nn.Module, size: int, path: str | Path) -> Path:
    """Export `model` (eval mode, CPU) with the legacy TorchScript exporter, opset 17, dynamic batch; checked."""
    import onnx
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(2, 3, size, size),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(str(path))
    return path


def calibration_batches(run_dir: str | Path, meta: dict, n: int = N_CALIBRATION,
                        batch_size: int = 8) -> list[np.ndarray]:
    """Varied preprocessed images to calibrate int8 ranges: train-split photos (every class in turn), drawn
    images and other-style views of train photos, a third each (`n` in all; drawn ones fill in for few photos)."""
    train = manifest_split(run_dir, meta, "train")
    picked = train.sample(frac=1.0, random_state=0).assign(
        turn=lambda d: d.groupby("label").cumcount()).sort_values("turn", kind="stable")
    photos, presize = [], int(meta["presize"])
    for path in picked["path"]:
        if len(photos) == 2 * (n // 3):
            break
        try:
            photos.append(open_rgb(path))
        except JewelError:
            continue
    if not photos:
        raise JewelError(f"int8 quantisation needs calibration images, and none of the train split of {run_dir}'s "
                         "manifest can be read: restore the training data, or export --format onnx")
    rng, aug = random.Random(0), ShiftAug()  # every other photo (classes take turns) in another style
    squares = [center_square(im, presize) if i % 2 == 0 else aug(im, presize, rng) for i, im in enumerate(photos)]
    with tempfile.TemporaryDirectory(prefix="jewel-calibration-") as tmp:
        per_class = -(-(n - len(squares)) // len(meta["classes"]))
        drawn = synth_items(tmp, meta["classes"], per_class, presize).sample(frac=1.0, random_state=0)
        squares += [open_rgb(p) for p in drawn["path"][:n - len(squares)]]
    x = torch.stack([image_tensor(sq, int(meta["size"]), meta["mean"], meta["std"]) for sq in squares]).numpy()
    return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]


def _reader(batches: list[np.ndarray]):
    """The batches as onnxruntime's `CalibrationDataReader` (one pass)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter({"input": b} for b in batches)

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    return Reader()


def _quantize(prepared: Path, path: Path, batches: list[np.ndarray], exclude: list[str]) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    quantize_static(str(prepared), str(path), _reader(batches), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=exclude)


def sensitive_nodes(prepared: Path, qdq: Path, x: np.ndarray, k: int = N_FLOAT_LAYERS) -> list[str]:
    """The `k` nodes of `prepared` (a float model) whose outputs in `qdq` (its int8 version) have the lowest
    signal-to-quantisation-noise ratio on the images `x`: the layers int8 hurts most, to keep in float32."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations, compute_activation_error, create_activation_matching,
        modify_model_output_intermediate_tensors)
    with tempfile.TemporaryDirectory() as tmp:
        activations = []
        for model in (qdq, prepared):
            augmented = Path(tmp) / f"augmented-{model.name}"
            modify_model_output_intermediate_tensors(str(model), str(augmented))
            activations.append(collect_activations(str(augmented), _reader([x])))
    matching = {name: m for name, m in create_activation_matching(*activations).items()  # tensors of one shape
                if len({np.concatenate(v).size for v in m.values()}) == 1}
    errors = compute_activation_error(matching)
    producer = {out: node.name for node in onnx.load(str(prepared)).graph.node for out in node.output}
    ranked = sorted((err["qdq_err"], producer[name]) for name, err in errors.items()
                    if name in producer and not producer[name].startswith(HEAD_SCOPE))
    return [node for _, node in ranked[:k]]


def quantize_int8(source: str | Path, path: str | Path, batches: list[np.ndarray],
                  n_float: int = N_FLOAT_LAYERS) -> Path:
    """Static QDQ int8 quantisation of the float ONNX model `source`, calibrated on `batches`; the head and the
    `n_float` most sensitive body layers (`sensitive_nodes`) stay float32."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        head = [n.name for n in onnx.load(str(prepared)).graph.node if n.name.startswith(HEAD_SCOPE)]
        _quantize(prepared, path, batches, head)
        if n_float:
            x = np.concatenate(batches)
            sample = x[::max(1, len(x) // N_SENSITIVITY)][:N_SENSITIVITY]  # photos, other-style and drawn alike
            exclude = head + sensitive_nodes(prepared, path, sample, n_float)
            _quantize(prepared, path, batches, exclude)
    return path


def int8_agreement(run_dir: str | Path, external: Sequence[str | Path] = ()) -> dict:
    """How often the int8 model gives the float32 model's label, on the run's test split and on each folder of
    `external` (other shops' photos, read in place), recorded in meta.json under onnx.int8_agreement.

    Returns {set: {"n", "agreement", "trusted"}}; `trusted` when agreement >= MIN_AGREEMENT.
    """
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    fp32, int8 = OnnxModule(onnx_file(run_dir)), OnnxModule(onnx_file(run_dir, quantize=True))
    sets = {"test split": list(manifest_split(run_dir, meta, "test")["path"])}
    sets |= {Path(f).name: list(read_items(f)["path"]) for f in external}
    result = {}
    for name, paths in sets.items():
        a, b = (batch_logits(m, paths, meta, progress=False).logits.argmax(1) for m in (fp32, int8))
        agreement = round(float((a == b).float().mean()), 4) if len(a) else None
        result[name] = {"n": int(len(a)), "agreement": agreement,
                        "trusted": agreement is not None and agreement >= MIN_AGREEMENT}
    update_meta(run_dir, onnx=read_meta(run_dir)["onnx"] | {"int8_agreement": result})
    return result


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())
