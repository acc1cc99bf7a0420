"""ONNX export: meta.json record, parity with PyTorch, int8, engines in `jewel predict`, and the speed benchmark."""
from __future__ import annotations

import importlib.util
import io
import shutil
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from jewelhelpers.cli import main
from jewelhelpers.core.onnx import INT8_FILE, ONNX_FILE
from jewelhelpers.core.forward import preprocess
from jewelhelpers.core.predictor import Predictor
from jewelhelpers.core.runs import read_meta

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "inference_speed.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_run) -> Path:
    """A copy of the tiny run, exported by `jewel export` to ONNX and int8."""
    run = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(tiny_run, run)
    assert main(["export", str(run), "--format", "onnx"]) == 0
    assert main(["export", str(run), "--format", "onnx-int8"]) == 0
    return run


def test_export_records_preprocessing_in_meta(run):
    meta = read_meta(run)
    record = meta["onnx"]
    assert record["file"] == ONNX_FILE and record["int8_file"] == INT8_FILE
    assert (run / ONNX_FILE).is_file() and (run / INT8_FILE).is_file()
    assert record["input"]["layout"] == "NCHW" and record["input"]["dtype"] == "float32"
    assert record["input"]["shape"] == ["batch", 3, meta["size"], meta["size"]]
    assert (record["size"], record["mean"], record["std"], record["classes"]) == (
        meta["size"], meta["mean"], meta["std"], meta["classes"])
    assert record["opset"] >= 17
    graph = onnx.load(str(run / ONNX_FILE)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_export_to_another_file(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    out = tmp_path / "elsewhere" / "m.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert out.is_file() and read_meta(run)["onnx"]["file"] == str(out.resolve())
    assert not (run / ONNX_FILE).exists()


def test_onnx_logits_match_pytorch(run, image_folder):
    x = torch.stack([preprocess(p, read_meta(run)) for p in sorted(image_folder.glob("*/*.jpg"))[:5]])
    torch_logits = Predictor.from_run(run).model(x).detach()
    onnx_logits = Predictor.from_run(run, engine="onnx").model(x)
    assert onnx_logits.shape == (5, 5)  # a batch size other than the export's dummy batch of 2
    assert (onnx_logits - torch_logits).abs().max().item() < 1e-4


def test_int8_is_quantised_and_predicts(run, image_folder):
    nodes = onnx.load(str(run / INT8_FILE)).graph.node
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in nodes}
    head = [n for n in nodes if n.name.startswith("/1/")]
    assert any(n.op_type == "MatMul" for n in head) and not any("Quant" in n.op_type for n in head)
    images = sorted(image_folder.glob("*/*.jpg"))[:4]
    int8 = Predictor.from_run(run, engine="onnx-int8").predict_batch(images)
    assert int8["error"].isna().all() and int8["label"].isin(read_meta(run)["classes"]).all()


def test_predict_engine_exports_on_first_use(tmp_path, tiny_run, image_folder, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["predict", str(run), str(image_folder / "ring"), "--engine", "onnx"]) == 0
    assert (run / ONNX_FILE).is_file() and read_meta(run)["onnx"]["file"] == ONNX_FILE
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    torch_df = Predictor.from_run(run).predict_batch(list(df["path"]))
    assert np.allclose(df["probability"], torch_df["probability"], atol=1e-4)


def _benchmark():
    spec = importlib.util.spec_from_file_location("inference_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_on_tiny_settings(run, capsys):
    bench = _benchmark()
    table = bench.main(["--run", str(run), "--archs", "resnet18", "efficientnet_lite0", "--size", "64", "--n-images", "8",
                        "--batch-sizes", "1", "4", "--repeats", "1", "--max-test", "12"])
    out = capsys.readouterr().out
    assert set(table["engine"]) == {"torch", "onnx", "onnx-int8"} and set(table["batch"]) == {1, 4}
    assert (table["images_per_s"] > 0).all()
    untrained = table["run"].str.startswith("untrained")
    assert set(table.loc[untrained, "arch"]) == {"efficientnet_lite0"}  # resnet18 came with a run
    trained, untrained = table[~untrained], table[untrained]
    assert trained["accuracy"].between(0, 1).all() and untrained["accuracy"].isna().all()
    assert (trained.loc[trained["engine"] == "onnx", "agrees_with_eager"] == 1.0).all()
    assert (table.loc[table["engine"] == "torch", "vs_eager"] == 1.0).all()
    assert "untrained" in out and "n/a" in out


def test_int8_export_measures_and_records_its_agreement_with_float32(run, shop_folders, capsys):
    assert main(["export", str(run), "--format", "onnx-int8", "--external", str(shop_folders[0])]) == 0
    out = capsys.readouterr().out
    agreement = read_meta(run)["onnx"]["int8_agreement"]
    assert list(agreement) == ["test split", "shop_a"]
    assert agreement["test split"]["n"] == 15 and agreement["shop_a"]["n"] == 15  # tiny run: 3 test images a class
    for name, a in agreement.items():
        assert 0 <= a["agreement"] <= 1 and a["trusted"] == (a["agreement"] >= 0.99)
        line = next(x for x in out.splitlines() if f"of {name} ({a['n']} images)" in x)
        assert ("use --engine onnx" in line) != a["trusted"]
