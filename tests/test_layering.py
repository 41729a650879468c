"""The directions imports may take, read from the source (nothing is imported or executed).

Every module's imports are parsed (lazy ones inside functions count; relative ones are resolved),
the module graph is built, and each rule is checked on what a module reaches transitively:
- (a) no import runs up LAYERS, and every package is placed in LAYERS;
- (b) the device side never reaches TensorFlow or the host's training and compression code;
- (c) compress never reaches the device side (deploy);
- (d) bench reads compress's report.json, never compress or search code;
- (e) nothing below the CLI reaches it; metrics stay numpy; no import cycles between modules.
A failure prints the chain of imports that breaks the rule. The self-tests at the bottom run
each rule on a small probe tree that breaks it, so that each rule is shown able to fail."""
from __future__ import annotations

import ast
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgeseg"

# Bottom to top: a module may import from its own layer and the layers below it, never above.
LAYERS = ["errors", "safety", "quiet", "progress", "staging", "callable_package", "outputs", "preflight", "config_dict", "config",
          "backend", "metrics", "artifacts", "data", "instances", "models", "export", "runtimes", "deploy",
          "scoring", "training", "prune", "quantize", "bench", "search", "compress", "api", "cli", "__main__"]
TENSORFLOW = {"tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx"}
DEVICE_SIDE = ("deploy", "artifacts", "instances", "runtimes")
HOST_ONLY = ("backend", "compress", "bench", "search", "training", "prune", "quantize", "export", "models")
# The host's Keras runtime is registered beside the device runtimes (runtimes/__init__ lists every
# runtime by name, and the device side imports that registry), so it is reached from the device side.
# It imports TensorFlow only inside load(), which the device never calls for it. It is a gate: its
# module-level imports are checked like any device module's, its function-level ones are not followed.
GATES = {"edgeseg.runtimes.keras_tf"}
METRICS_MAY_USE = {"numpy", "pycocotools"}  # pycocotools: the optional COCO mask AP, an extra


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # an edgeseg module, or the top-level name of an external package
    line: int
    lazy: bool = False  # inside a function: runs when the function is called
    implicit: bool = False  # a module's parent package, which Python imports first

    @property
    def origin(self) -> str:
        """`a.b:12 (lazy)`: line 12 of a.b imports the target inside a function."""
        return self.source + (" (its package)" if self.implicit else f":{self.line}" + (" (lazy)" if self.lazy else ""))

    def __str__(self) -> str:
        return f"{self.origin} -> {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str], root: str):
        self.module, self.is_package, self.known, self.root = module, is_package, known, root
        self.depth, self.edges = 0, []

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        if _is_type_checking(node.test):  # annotations only: never runs
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node):
        if node.level:
            anchor = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            name = f"{base}.{alias.name}"
            self._add(name if name in self.known else base, node)

    def _add(self, name: str, node: ast.stmt) -> None:
        if not (name == self.root or name.startswith(self.root + ".")):
            name = name.split(".")[0]
        if name != self.module:
            self.edges.append(Edge(self.module, name, node.lineno, lazy=self.depth > 0))


def build_graph(root: Path) -> dict[str, list[Edge]]:
    """Module name -> the imports it makes, for every .py file under the package directory `root`."""
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {}
    for module, path in files.items():
        visitor = _Imports(module, path.name == "__init__.py", set(files), root.name)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        parent = module.rsplit(".", 1)[0] if "." in module else None
        implicit = [Edge(module, parent, 0, implicit=True)] if parent in files else []
        graph[module] = implicit + visitor.edges
    return graph


def reach(graph: dict[str, list[Edge]], start: str, gates=frozenset()) -> dict[str, Edge | None]:
    """Every module or external package importing `start` may import, each with the edge that
    first reached it (breadth first: the chains are the shortest); a gate's lazy imports are not followed."""
    came_by: dict[str, Edge | None] = {start: None}
    todo = deque([start])
    while todo:
        module = todo.popleft()
        for edge in graph.get(module, []):
            if (edge.lazy and module in gates) or edge.target in came_by:
                continue
            came_by[edge.target] = edge
            todo.append(edge.target)
    return came_by


def path_to(came_by: dict[str, Edge | None], target: str) -> list[Edge]:
    steps, node = [], target
    while came_by[node] is not None:
        steps.append(came_by[node])
        node = came_by[node].source
    return steps[::-1]


def chain(edges: list[Edge]) -> str:
    return " -> ".join([e.origin for e in edges] + [edges[-1].target])


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package root, the public lazy API


def _in(graph, *layers: str) -> list[str]:
    return sorted(m for m in graph if _layer(m) in layers)


def _targets_in(name: str, root: str, *layers: str) -> bool:
    return name.startswith(root + ".") and _layer(name) in layers


def _reaching(graph, starts, forbidden, gates=frozenset()) -> list[str]:
    """The chains from each module of `starts` to the names `forbidden` accepts (a chain that passes
    through one forbidden name is reported once, at that name)."""
    found = []
    for start in starts:
        came_by = reach(graph, start, gates)
        for name in sorted(n for n in came_by if n != start and forbidden(n)):
            steps = path_to(came_by, name)
            if not any(forbidden(e.target) for e in steps[:-1]):  # the first forbidden step says it
                found.append(chain(steps))
    return found


def upward_imports(graph) -> list[str]:
    """Direct edges suffice: a chain of edges that never go up never goes up."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return [f"{e} ({_layer(e.source)} is below {_layer(e.target)})"
            for edges in graph.values() for e in edges
            if rank.get(_layer(e.source), len(rank)) < rank.get(_layer(e.target), -1)]


def unplaced_packages(graph) -> list[str]:
    return sorted({_layer(m) for m in graph if _layer(m) is not None} - set(LAYERS))


def device_side_leaks(graph, root="edgeseg") -> list[str]:
    return _reaching(graph, _in(graph, *DEVICE_SIDE),
                     lambda n: n in TENSORFLOW or _targets_in(n, root, *HOST_ONLY), GATES)


def compress_reaches_deploy(graph, root="edgeseg") -> list[str]:
    return _reaching(graph, _in(graph, "compress"), lambda n: _targets_in(n, root, "deploy"))


def bench_reaches_compress_or_search(graph, root="edgeseg") -> list[str]:
    return _reaching(graph, _in(graph, "bench"), lambda n: _targets_in(n, root, "compress", "search"))


def cli_reached_from_below(graph, root="edgeseg") -> list[str]:
    below = [m for m in graph if _layer(m) not in ("cli", "__main__", None)]
    return _reaching(graph, below, lambda n: _targets_in(n, root, "cli", "__main__"))


def metrics_beyond_numpy(graph, root="edgeseg") -> list[str]:
    allowed = set(sys.stdlib_module_names) | METRICS_MAY_USE
    return _reaching(graph, _in(graph, "metrics"),
                     lambda n: not n.startswith(root) and n not in allowed)


def import_cycles(graph) -> list[str]:
    """Strongly connected components of the explicit imports (lazy ones too: a ring of modules is
    one tangled unit even when Python could load it); one ring printed per component."""
    succ = {m: sorted({e.target for e in edges if not e.implicit and e.target in graph}) for m, edges in graph.items()}
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):  # Tarjan; the package trees are shallow enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in succ[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for module in sorted(succ):
        if module not in index:
            connect(module)
    rings = []
    for component in components:
        inside = {m: [e for e in graph[m] if e.target in component and not e.implicit] for m in component}
        start = min(component)
        came_by = reach(inside, start)
        back = next(e for m in came_by for e in inside[m] if e.target == start)
        rings.append(chain(path_to(came_by, back.source) + [back]))
    return rings


GRAPH = build_graph(PACKAGE)
RULES = {
    "(a) no import runs up LAYERS": upward_imports,
    "(a) every package is placed in LAYERS": unplaced_packages,
    "(b) the device side never reaches TensorFlow or host code": device_side_leaks,
    "(c) compress never reaches deploy": compress_reaches_deploy,
    "(d) bench never reaches compress or search code": bench_reaches_compress_or_search,
    "(e) nothing below the CLI reaches it": cli_reached_from_below,
    "(e) metrics stay numpy": metrics_beyond_numpy,
    "(e) no import cycles": import_cycles,
}


def test_the_graph_sees_every_module_and_lazy_imports():
    assert len(GRAPH) > 100 and "edgeseg.deploy.load" in GRAPH and "edgeseg.runtimes.keras_tf" in GRAPH
    assert any(e.lazy and e.target == "edgeseg.backend" for e in GRAPH["edgeseg.runtimes.keras_tf"])


@pytest.mark.parametrize("rule", RULES)
def test_rule_holds_on_the_tree(rule):
    violations = RULES[rule](GRAPH)
    assert not violations, f"{rule}:\n  " + "\n  ".join(violations)


# ---- each rule can fail: a probe tree that breaks it --------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, list[Edge]]:
    root = tmp_path / "edgeseg"
    for name in ["__init__.py", *files]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(files.get(name, ""))
    return build_graph(root)


BROKEN = {  # rule -> (probe files, what the violation must name)
    "(a) no import runs up LAYERS": (
        {"metrics/m.py": "def f():\n    from ..compress import plan\n", "compress/plan.py": ""},
        "edgeseg.metrics.m:2 (lazy) -> edgeseg.compress.plan (metrics is below compress)"),
    "(a) every package is placed in LAYERS": ({"gadgets/g.py": ""}, "gadgets"),
    "(b) the device side never reaches TensorFlow or host code": (
        {"deploy/load.py": "from ..data import io\n", "data/io.py": "def f():\n    import tensorflow as tf\n"},
        "edgeseg.deploy.load:1 -> edgeseg.data.io:2 (lazy) -> tensorflow"),
    "(c) compress never reaches deploy": (
        {"compress/p.py": "from edgeseg.scoring.verify import v\n", "scoring/verify.py": "from ..deploy import load\n",
         "deploy/load.py": ""}, "edgeseg.compress.p:1 -> edgeseg.scoring.verify:1 -> edgeseg.deploy.load"),
    "(d) bench never reaches compress or search code": (
        {"bench/run.py": "import edgeseg.search.study\n", "search/study.py": ""},
        "edgeseg.bench.run:1 -> edgeseg.search.study"),
    "(e) nothing below the CLI reaches it": ({"api.py": "from .cli.main import main\n", "cli/main.py": ""},
                                             "edgeseg.api:1 -> edgeseg.cli.main"),
    "(e) metrics stay numpy": ({"metrics/s.py": "import scipy.ndimage\n"}, "edgeseg.metrics.s:1 -> scipy"),
    "(e) no import cycles": ({"data/a.py": "from . import b\n", "data/b.py": "def f():\n    from .a import x\n"},
                             "edgeseg.data.a:1 -> edgeseg.data.b:2 (lazy) -> edgeseg.data.a"),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_can_fail(rule, tmp_path):
    files, named = BROKEN[rule]
    violations = RULES[rule](_tree(tmp_path, files))
    assert any(named in v for v in violations), violations


def test_the_gate_checks_its_module_level_imports_and_stops_at_its_lazy_ones(tmp_path):
    lazy_only = {"deploy/load.py": "from ..runtimes import keras_tf\n",
                 "runtimes/keras_tf.py": "def load():\n    import tensorflow\n"}
    assert device_side_leaks(_tree(tmp_path / "lazy", lazy_only)) == []
    at_import = dict(lazy_only, **{"runtimes/keras_tf.py": "import tensorflow\n"})
    assert any("edgeseg.runtimes.keras_tf:1 -> tensorflow" in v
               for v in device_side_leaks(_tree(tmp_path / "eager", at_import)))
    not_a_gate = dict(lazy_only, **{"runtimes/litert.py": "def load():\n    from ..models.io import load_model\n"})
    leaks = device_side_leaks(_tree(tmp_path / "other", not_a_gate))
    assert any("edgeseg.runtimes.litert:2 (lazy) -> edgeseg.models.io" in v for v in leaks)


def test_type_checking_imports_never_run_and_are_not_edges(tmp_path):
    graph = _tree(tmp_path, {"deploy/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                            "    from ..compress import plan\n", "compress/plan.py": ""})
    assert {e.target for e in graph["edgeseg.deploy.d"]} == {"edgeseg.deploy", "typing"}
