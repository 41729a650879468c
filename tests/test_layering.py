"""The directions imports may take, read from the source (no import is executed):
- the device side (deploy/, artifacts/, the LiteRT/onnxruntime runtimes) never reaches TensorFlow;
- bench reads compress *output*, never compress code;
- compress never imports the device side; nothing below the CLI imports it;
- metrics stay numpy; and no two modules import each other, directly or in a ring."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgeseg"
TENSORFLOW = {"tensorflow", "tf_keras", "tensorflow_model_optimization", "tf2onnx", "keras"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    module = next((m for m, p in MODULES.items() if p == path), None) or _module_name(path)
    is_package = path.name == "__init__.py"
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node, is_package))
    return found


MODULES: dict[str, Path] = {}
MODULES.update({_module_name(p): p for p in PACKAGE.rglob("*.py")})


def _internal(names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES}


def _reach(start: str) -> set[str]:
    """Every name imported when `start` is: its own imports (lazy ones too), then, transitively,
    the module-level imports of the edgeseg modules it reaches (their lazy imports run only when
    their functions are called, which the device side does not do for TensorFlow runtimes)."""
    seen, names = {start}, set(_imports(MODULES[start], top_level_only=False))
    todo = [m for m in _internal(names) if m != start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(2, module.count(".") + 1)]
        new = _imports(MODULES[module], top_level_only=True) | set(p for p in parents if p in MODULES)
        names |= new
        todo += [m for m in _internal(new) if m not in seen]
    return names | seen


def _in(prefix: str) -> list[str]:
    return sorted(m for m in MODULES if m == prefix or m.startswith(prefix + "."))


DEVICE_SIDE = (_in("edgeseg.deploy") + _in("edgeseg.artifacts")
               + ["edgeseg.runtimes.litert", "edgeseg.runtimes.onnxrt", "edgeseg.runtimes.base"])


@pytest.mark.parametrize("module", DEVICE_SIDE)
def test_device_side_never_reaches_tensorflow(module):
    reached = _reach(module)
    assert not {n.split(".")[0] for n in reached} & TENSORFLOW
    assert not [n for n in reached if n.startswith(("edgeseg.backend", "edgeseg.training", "edgeseg.compress",
                                                   "edgeseg.quantize", "edgeseg.export", "edgeseg.models"))]


@pytest.mark.parametrize("module", _in("edgeseg.bench"))
def test_bench_never_imports_compress_code(module):
    assert not [n for n in _imports(MODULES[module], top_level_only=False) if n.startswith("edgeseg.compress")]


@pytest.mark.parametrize("module", _in("edgeseg.compress"))
def test_compress_never_imports_the_device_side(module):
    assert not [n for n in _imports(MODULES[module], top_level_only=False) if n.startswith("edgeseg.deploy")]


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith(("edgeseg.cli", "edgeseg.__main__"))])
def test_nothing_below_the_cli_imports_it(module):
    assert not [n for n in _imports(MODULES[module], top_level_only=False) if n.startswith("edgeseg.cli")]


def test_metrics_stay_numpy():
    """numpy and the standard library; pycocotools only for the optional COCO mask AP (an extra)."""
    import sys

    for module in [m for m in MODULES if m.startswith("edgeseg.metrics")]:
        external = {n.split(".")[0] for n in _imports(MODULES[module], top_level_only=False)
                    if not n.startswith("edgeseg")} - set(sys.stdlib_module_names)
        assert external <= {"numpy", "pycocotools"}, module


def test_no_import_cycles():
    graph = {m: {n for n in _internal(_imports(p, top_level_only=False)) if n != m
                 and not m.startswith(n + ".")} for m, p in MODULES.items()}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start and len(path) > 1:
                    cycles.append(" -> ".join(path + [start]))
                elif nxt not in path and nxt > start and len(path) < 6:
                    stack.append((nxt, path + [nxt]))
    assert cycles == []


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The rules above can fail: a module with a lazy TensorFlow import is seen."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import tensorflow\n    from ..compress import pipeline\n")
    MODULES["edgeseg.deploy.probe"] = probe
    try:
        reached = _reach("edgeseg.deploy.probe")
    finally:
        del MODULES["edgeseg.deploy.probe"]
    assert "tensorflow" in reached and "edgeseg.compress.pipeline" in reached
