"""A trained run ready to classify photos: `Predictor` loads it safely and runs the torch or ONNX engine.

Loading never executes a pickle: the model is rebuilt from `meta.json` and its `model.pth` state_dict is read
with `torch.load(weights_only=True)` on the CPU, whatever device trained it. fastai's `export.pkl` is a
pickle, and unpickling can run any code the file's author wrote, so `Predictor.from_export` needs
`trusted=True`. Engines: eager PyTorch (`torch`), or the exported ONNX model (`onnx`, `onnx-int8`) run by
onnxruntime, exported on first use.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .errors import JewelError
from .forward import ImageInput, batch_logits, probabilities
from .manifest import manifest_split
from .metrics import match_classes
from .onnx import onnx_file
from .runs import EXPORT, load_model, read_meta
from .settings import ENGINES
from .unknown import run_unknown, unknown_scores

UNKNOWN = "unknown"
COLUMNS = ["path", "label", "probability", "top_k", "best_guess", "unknown_score", "error"]


@dataclass
class Prediction:
    """One image's answer: `label` is the best class, or `unknown` below the confidence threshold or above the
    run's unknown-photo threshold.

    `best_guess` is always the most probable class; `top_k` lists (class, probability), most probable first;
    `unknown_score` (higher = less like the training photos, `core.unknown`) is None when unknown scores are off.
    """

    label: str
    probability: float
    best_guess: str
    top_k: list[tuple[str, float]]
    unknown_score: float | None = None


class OnnxModule(nn.Module):
    """An onnxruntime session behind `nn.Module`'s call, so batching and TTA treat it like the torch model.

    It holds one empty parameter only so that code asking a model for its device finds the CPU.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort
        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: onnxruntime's default, one thread per core
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_pooled(x)[0]

    def logits_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits and, when the file has that output, the pooled body features (see `core.onnx.OUTPUTS`)."""
        x = x.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
        out = self.session.run(None, {self.input_name: x})
        return torch.from_numpy(out[0]), torch.from_numpy(out[1]) if len(out) > 1 else None


class Predictor:
    """A trained run ready to classify photos on the CPU: `predict` one image, `predict_batch` many.

    Make one with `Predictor.from_run(run_dir)` (no pickle executed) or, for fastai's own file,
    `Predictor.from_export(run_dir, trusted=True)`. Probabilities use the run's calibrated temperature
    from meta.json when evaluation stored one.

    Taught in: 04_inference_and_deployment.ipynb.
    """

    def __init__(self, model: nn.Module, meta: dict, engine: str = "torch", run_dir: str | Path | None = None,
                 unknown: tuple[dict, np.ndarray] | None = None):
        self.model, self.meta, self.engine = model.eval(), meta, engine
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.unknown = unknown  # (meta.json's "unknown" record, the bank of training features), or None: off

    @classmethod
    def from_run(cls, run_dir: str | Path, engine: str = "torch", unknown: bool = False,
                 threads: int | None = None) -> Predictor:
        """Load RUN_DIR's portable format (meta.json + model.pth, `weights_only=True`): no pickle is executed.

        `engine="onnx"` or `"onnx-int8"` runs the exported ONNX model with onnxruntime, exporting it first
        when RUN_DIR has none (or an older one than model.pth), on `threads` threads (default: one per core).
        With `unknown`, every prediction carries an unknown score and photos above the run's threshold are
        labelled `unknown` (`core.unknown`; a run trained before it existed gets its threshold fitted now, by
        this engine).
        """
        if engine not in ENGINES:
            raise JewelError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
        if engine == "torch":
            model, meta = load_model(run_dir, "cpu")
        else:
            model = OnnxModule(onnx_file(run_dir, quantize=engine == "onnx-int8"), threads)
            meta = read_meta(run_dir)
        return cls(model, meta, engine, run_dir, run_unknown(run_dir, meta, model) if unknown else None)

    @classmethod
    def from_export(cls, run_dir: str | Path, trusted: bool = False) -> Predictor:
        """Load fastai's `export.pkl` from RUN_DIR; only with `trusted=True`.

        A pickle is a program: unpickling can run any code its author put in it, so only load files you made
        yourself or got from someone you trust. `from_run` reads the same model without that risk.
        """
        path = Path(run_dir) / EXPORT
        if not trusted:
            raise JewelError(f"refusing to unpickle {path}: a pickle can run arbitrary code when loaded. Use "
                             "Predictor.from_run(run_dir) (weights only, safe), or pass trusted=True if you "
                             "made this file yourself or trust who did")
        meta = read_meta(run_dir)
        if not path.is_file():
            raise JewelError(f"{run_dir} has no {EXPORT}; use Predictor.from_run(run_dir)")
        from fastai.learner import load_learner
        return cls(load_learner(path, cpu=True).model.cpu(), meta, "torch", run_dir)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def torch_model(self) -> nn.Module | None:
        """The PyTorch model (for Grad-CAM), or None when an ONNX engine runs the predictions."""
        return None if isinstance(self.model, OnnxModule) else self.model

    def scored(self, images: Sequence[ImageInput], batch_size: int = 32, progress: bool = False
               ) -> tuple[torch.Tensor, np.ndarray | None, list[int], dict[int, str]]:
        """Class probabilities and unknown scores (None when off) of the readable images, which inputs they
        belong to, and why the others failed."""
        out = batch_logits(self.model, list(images), self.meta, batch_size, progress=progress,
                           features=self.unknown is not None)
        scores = None
        if self.unknown is not None:
            record, bank = self.unknown
            scores = unknown_scores(record["method"], out.logits, out.features, bank, record["k"])
        return probabilities(out.logits, self.meta.get("temperature")), scores, out.ok, out.errors

    def probabilities(self, images: Sequence[ImageInput], batch_size: int = 32,
                      progress: bool = False) -> tuple[torch.Tensor, list[int], dict[int, str]]:
        """Class probabilities of the readable images, which inputs they belong to, and why the others failed."""
        probs, _, ok, errors = self.scored(images, batch_size, progress)
        return probs, ok, errors

    def _decide(self, probs: torch.Tensor, score: float | None, top_k: int,
                min_confidence: float | None) -> Prediction:
        threshold = self.unknown[0]["threshold"] if self.unknown is not None else None
        return decide(probs, self.classes, top_k, min_confidence, score, threshold)

    def predict(self, image: ImageInput, top_k: int = 3, min_confidence: float | None = None) -> Prediction:
        """Top-k classes of one image (path, bytes or PIL image); JewelError when it cannot be read.

        With `min_confidence`, a prediction less probable than it is labelled `unknown` (best guess kept).
        """
        probs, scores, _, errors = self.scored([image])
        if errors:
            raise JewelError(errors[0])
        return self._decide(probs[0], None if scores is None else float(scores[0]), top_k, min_confidence)

    def predict_batch(self, images: Sequence[ImageInput], top_k: int = 3, min_confidence: float | None = None,
                      batch_size: int = 32, progress: bool = False) -> pd.DataFrame:
        """One row per input, in order: label, probability, top_k, best_guess, unknown_score, and `error`."""
        probs, scores, ok, errors = self.scored(images, batch_size, progress)
        rows: list[dict] = [{"error": errors.get(i)} for i in range(len(images))]
        for j, (i, p) in enumerate(zip(ok, probs)):
            rows[i] |= asdict(self._decide(p, None if scores is None else float(scores[j]), top_k, min_confidence))
        return pd.DataFrame(rows, columns=COLUMNS[1:])

    def split_probabilities(self, split: str = "valid", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and true class indices on a split of the run's manifest (its first `limit` images)."""
        if self.run_dir is None:
            raise JewelError("this Predictor was not loaded from a run folder: it has no manifest")
        items = match_classes(manifest_split(self.run_dir, self.meta, split), self.classes)[0].head(limit)
        probs, ok, _ = self.probabilities(list(items["path"]))
        y = items["label"].iloc[ok].map({c: i for i, c in enumerate(self.classes)}).to_numpy(dtype=int)
        return probs.numpy(), y

    def throughput(self, x: torch.Tensor, batch_size: int, repeats: int = 3) -> float:
        """Images per second of the model alone on preprocessed images `x` (one warm-up batch not counted)."""
        batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
        with torch.inference_mode():
            self.model(batches[0])
            start = time.perf_counter()
            for _ in range(repeats):
                for b in batches:
                    self.model(b)
            return repeats * len(x) / (time.perf_counter() - start)


def decide(probs: torch.Tensor, classes: list[str], top_k: int = 3, min_confidence: float | None = None,
           unknown_score: float | None = None, unknown_threshold: float | None = None) -> Prediction:
    """Turn one probability vector into a Prediction: top-k, and `unknown` below `min_confidence` or when the
    unknown score is above `unknown_threshold`."""
    values, idx = probs.topk(min(top_k, len(classes)))
    top = [(classes[i], float(v)) for v, i in zip(values.tolist(), idx.tolist())]
    best, p = top[0]
    unlike = unknown_score is not None and unknown_threshold is not None and unknown_score > unknown_threshold
    label = UNKNOWN if unlike or (min_confidence is not None and p < min_confidence) else best
    return Prediction(label, p, best, top, unknown_score)
