"""The package's imports point one way and form no cycle.

Layers, lowest first: paddle-free basics -> modeling (and the zoo registry) -> checkpoints and the
model store -> training -> pretraining, finetuning -> distillation (over fine-tuning) ->
integrations -> the entry points (cli, quickstart). Every import is read with `ast`, at module level and inside functions alike (a lazy
import is still a dependency). The facade ``paddle_wwm/__init__.py`` is the top: it may import
anything, and importing one of its attributes from inside the package is an upward import.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "paddle_wwm"
FACADE = "paddle_wwm"

# A module belongs to the layer of its longest matching prefix (so a module that becomes a package,
# e.g. tokenization.py -> tokenization/, keeps its layer).
LAYERS = (
    ("basics", ("paddle_wwm.errors", "paddle_wwm.atomic_files", "paddle_wwm.sectioned_config", "paddle_wwm.runtime",
                "paddle_wwm.parallel", "paddle_wwm.resources", "paddle_wwm.tokenization", "paddle_wwm.segmentation",
                "paddle_wwm.wwm", "paddle_wwm.metrics")),
    ("modeling", ("paddle_wwm.modeling", "paddle_wwm.zoo")),
    ("checkpoints and store", ("paddle_wwm.checkpoints", "paddle_wwm.store", "paddle_wwm.downloads")),
    ("training", ("paddle_wwm.training",)),
    ("pretraining and finetuning", ("paddle_wwm.pretraining", "paddle_wwm.finetuning")),
    ("distillation", ("paddle_wwm.distillation",)),
    ("integrations", ("paddle_wwm.integrations",)),
    ("entry points", ("paddle_wwm.cli", "paddle_wwm.quickstart")),
)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> int | None:
    if module == FACADE:
        return len(LAYERS)
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def layer_name(index: int) -> str:
    return "the facade" if index == len(LAYERS) else LAYERS[index][0]


def imported_modules(module: str, path: Path, modules: dict) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file, with the packages
    whose ``__init__`` those imports run (bar its own ancestors and the facade, which run first)."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    targets.add(f"{source}.{alias.name}")
                elif source != FACADE or not alias.name.startswith("__"):  # the facade's own constants
                    targets.add(source)
    own_ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    found = set()
    for target in targets:
        if target != FACADE and not target.startswith(FACADE + "."):
            continue
        parts = target.split(".")
        found.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
        if target == FACADE:
            found.add(FACADE)
    return {t for t in found if t != module and t not in own_ancestors and (t in modules or t == FACADE)}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer():
    unmapped = [module for module in module_files() if layer_of(module) is None]
    assert not unmapped, f"modules outside every layer (add them to LAYERS): {unmapped}"


def test_no_upward_import():
    graph = import_graph()
    upward = [f"{source} -> {target} ({layer_name(layer_of(source))} imports {layer_name(layer_of(target))})"
              for source, targets in sorted(graph.items()) if source != FACADE
              for target in sorted(targets)
              if layer_of(source) is not None and layer_of(target) is not None and layer_of(target) > layer_of(source)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph = import_graph()
    graph.pop(FACADE, None)  # the top: it imports everything lazily and runs before any of it
    found = cycles(graph)
    report = [" <-> ".join(component) + ": " + ", ".join(
        f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component) for component in found]
    assert not found, "import cycles:\n" + "\n".join(report)


def test_the_checker_sees_function_level_imports_and_relative_names(tmp_path):
    modules = {"paddle_wwm.a", "paddle_wwm.a.b", "paddle_wwm.store", "paddle_wwm.zoo"}
    source = tmp_path / "b.py"
    source.write_text("from .. import store\n\ndef f():\n    from paddle_wwm.zoo import entry\n"
                      "    from paddle_wwm import __version__\n")
    assert imported_modules("paddle_wwm.a.b", source, modules) == {"paddle_wwm.store", "paddle_wwm.zoo"}
    assert cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z"]]


def _top_level_parts() -> list[str]:
    """Subpackages, and the top-level modules that import other modules of the package."""
    graph = import_graph()
    return sorted({name.split(".")[1] for name in graph
                   if name.count(".") > 1 or (name != FACADE and (PACKAGE_DIR / name.split(".")[1]).is_dir())
                   or (name != FACADE and graph[name])})


TOP_LEVEL = _top_level_parts()


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_each_part_imports_first_in_a_fresh_process(name):
    """A cycle that the first import of a part runs into fails here ("partially initialized module")."""
    parts = [m for m in module_files() if (m == f"paddle_wwm.{name}" or m.startswith(f"paddle_wwm.{name}."))
             and not m.endswith("__main__")]
    code = "import importlib\nfor name in %r:\n    importlib.import_module(name)\n" % parts
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(PACKAGE_DIR.parent)))
    assert result.returncode == 0, result.stderr[-3000:]
