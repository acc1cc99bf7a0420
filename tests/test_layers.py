"""The house plan holds: imports run downward only (core -> recipes -> jobs -> course -> faces), no job imports
another job, nothing imports in a circle, and only the CLI imports inside functions (to start fast)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jewelhelpers"
LAYERS = {"core": 0, "recipes": 1, "jobs": 2, "course": 3}
FACES = {"cli", "all", "app"}  # top-level modules: the jewel command, the notebooks' import, the web app
FACE_LAYER = 4


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    """The layer of a module of the package (None for the package's own __init__)."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if parts[0] in LAYERS:
        return LAYERS[parts[0]]
    if parts[0] in FACES:
        return FACE_LAYER
    raise AssertionError(f"{module} is in no layer: put it under one of {', '.join(LAYERS)} or make it a face")


def imports_of(path: Path, package: Path) -> list[tuple[str, bool, int]]:
    """(imported module of the package, inside a function?, line) for every import in the file."""
    name = module_name(path, package)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    known = {module_name(p, package) for p in package.rglob("*.py")}
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")[: len(name.split(".")) - child.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:  # `from ..core import runs` imports the module core.runs
                    full = f"{target}.{alias.name}"
                    if full in known:
                        found.append((full, inner, child.lineno))
                    elif target in known:
                        found.append((target, inner, child.lineno))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner, child.lineno) for a in child.names if a.name in known)
            visit(child, inner)

    visit(tree, False)
    return found


def problems(package: Path) -> list[str]:
    """Every upward import, job-to-job import, function-level import outside the faces, and import circle."""
    graph: dict[str, set[str]] = {}
    found = []
    for path in sorted(package.rglob("*.py")):
        source = module_name(path, package)
        graph[source] = set()
        for target, in_function, line in imports_of(path, package):
            if target == source:
                continue
            graph[source].add(target)
            where = f"{path.relative_to(package.parent)}:{line}"
            low, high = layer(source), layer(target)
            if low is not None and high is not None and high > low:
                found.append(f"{where}: upward import of {target} from {source}")
            if low == high == LAYERS["jobs"]:
                found.append(f"{where}: the job {source} imports the job {target}")
            if in_function and low != FACE_LAYER:
                found.append(f"{where}: {source} imports {target} inside a function (move it to the top)")
    found += [f"import circle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                out.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return out


def test_the_package_imports_downward_only_and_without_circles():
    assert problems(PACKAGE) == []


def test_the_checker_finds_circles_upward_imports_and_hidden_imports(tmp_path):
    """The same checker on a small package that breaks every rule reports each break."""
    pkg = tmp_path / "jewelhelpers"
    files = {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "from .b import thing\n",
        "core/b.py": "def thing():\n    from .a import x\n    from ..jobs import train\n",
        "jobs/__init__.py": "",
        "jobs/train.py": "from . import predict\n",
        "jobs/predict.py": "",
        "cli.py": "def main():\n    from .jobs import train\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    found = problems(pkg)
    assert any("circle" in p and "jewelhelpers.core.a" in p and "jewelhelpers.core.b" in p for p in found)
    assert any("upward import of jewelhelpers.jobs.train from jewelhelpers.core.b" in p for p in found)
    assert any("core/b.py:2" in p and "inside a function" in p for p in found)
    assert any("the job jewelhelpers.jobs.train imports the job jewelhelpers.jobs.predict" in p for p in found)
    assert not any("cli.py" in p for p in found), "the CLI may import its jobs lazily"


LIGHT_VERBS = """
import sys
from jewelhelpers.cli import main
codes = [main(["audit", DATA]), main(["split", DATA, "--out", OUT + "/split.csv"]),
         main(["predict", RUN, DATA, "--engine", "onnx", "--out", OUT + "/predictions.csv"])]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("fastai", "fastcore", "fastprogress"))
print(codes, heavy)
assert codes == [0, 0, 0] and not heavy, (codes, heavy)
"""


def test_audit_split_and_onnx_predict_run_without_fastai(tiny_run, image_folder, tmp_path):
    import shutil
    from jewelhelpers.core.onnx import onnx_file
    run = shutil.copytree(tiny_run, tmp_path / "run")
    onnx_file(run)  # exported once here; predict must then reuse it without fastai
    code = f"DATA, RUN, OUT = {str(image_folder)!r}, {str(run)!r}, {str(tmp_path)!r}\n" + LIGHT_VERBS
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=os.environ | {"CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    assert (tmp_path / "predictions.csv").is_file() and (tmp_path / "split.csv").is_file()


@pytest.mark.parametrize("module", ["jewelhelpers.core.findings", "jewelhelpers.core.manifest", "jewelhelpers.cli"])
def test_light_modules_do_not_import_torch(module):
    """The audit, the split and the CLI's own start-up stay free of torch (seconds saved on every `jewel --help`)."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
