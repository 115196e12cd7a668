"""The layout shows the architecture: each layer of softgrad imports only the layers before it (docs/ARCHITECTURE.md).
A module that reaches up (ops importing autodiff, nn importing training, ...) turns this red."""

import ast
from pathlib import Path

import pytest

import softgrad

SRC = Path(softgrad.__file__).resolve().parent

#: lowest first; a module may import its own layer and the ones before it
LAYERS = ["tensor", "trace", "config", "ops", "autodiff", "info", "nn", "linear_model", "optim", "data", "training", "explain", "cli"]
LEAVES = {"random", "_files", "_blas", "_parallel", "_checks", "_refcounts", "communication"}  # utilities any layer may use (they import tensor at most)


def _layer_of(module: str) -> str | None:
    """The layer of ``softgrad.<layer>...`` (None for the package root and for the leaf utilities)."""
    parts = module.split(".")
    if parts[0] != "softgrad" or len(parts) == 1 or parts[1] in LEAVES or parts[1] in ("__init__", "__main__"):
        return None
    return parts[1]


def _lazy_attribute_nodes(tree) -> set:
    """The nodes inside a module-level ``__getattr__`` (a lazy attribute may name a later layer: ops.GradOperation)."""
    return {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__" for n in ast.walk(f)}


def _softgrad_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = _lazy_attribute_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("softgrad"):
            if node.module == "softgrad":  # from softgrad import ops, nn
                yield from (f"softgrad.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("softgrad"))


MODULES = [p for p in sorted(SRC.rglob("*.py")) if _layer_of("softgrad." + p.relative_to(SRC).with_suffix("")
                                                            .as_posix().replace("/", "."))]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_each_layer_imports_only_the_layers_before_it(path):
    own = _layer_of("softgrad." + path.relative_to(SRC).with_suffix("").as_posix().replace("/", "."))
    for module in _softgrad_imports(path):
        layer = _layer_of(module)
        if layer is None:
            continue
        assert LAYERS.index(layer) <= LAYERS.index(own), f"{own} ({path.name}) imports {module}, a later layer"


def test_every_package_is_placed_in_a_layer():
    packages = {p.name if p.is_dir() else p.stem for p in SRC.iterdir()
                if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.stem != "__init__"}
    assert packages - set(LAYERS) - LEAVES - {"__main__"} == set()
