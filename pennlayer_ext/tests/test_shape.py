"""The package keeps its shape: no import circles, core free of Jupyter, small modules.

Imports are read from the source (every ``import`` statement, also those inside
functions), so a circle hidden behind a function-level import is found too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = "pennlayer_ext"
FACADE_MAX_LINES = 300
MODULE_MAX_LINES = 450
# Shells sit above the facade; workers run jobs and must never reach above the services.
SHELLS = (
    "pennlayer_ext.handlers",
    "pennlayer_ext.cli",
    "pennlayer_ext.provisioner",
    "pennlayer_ext.app",
    "pennlayer_ext.config",
    "pennlayer_ext.limits",
    "pennlayer_ext.events",
)
WORKERS = (
    "pennlayer_ext.core.worker",
    "pennlayer_ext.core.runner",
    "pennlayer_ext.core.builder",
    "pennlayer_ext.core.loaders",
    "pennlayer_ext.core.headless",
    "pennlayer_ext.core.jobkinds",
    "pennlayer_ext.core.sources",
    "pennlayer_ext.core.processors",
    "pennlayer_ext.core.trash_remover",
)
FACADE = "pennlayer_ext.core.manager"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if "tests" in rel.parts or "labextension" in rel.parts:
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that *module* imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # The longest known module the name refers to (a module, or a name in one).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _edges_without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges from a module to the packages it lives in (importing a submodule runs its
    package's __init__ first; that is not a dependency the module chose)."""
    return {
        name: {t for t in targets if not name.startswith(t + ".")}
        for name, targets in graph.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    # Given a module whose only import of another sits inside a function
    source = tmp_path / "pkg" / "a.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from .b import g\n    return g\n")
    # Then the reader counts it, so the circle test below can fail on such an import
    assert _imports("pkg.a", source, {"pkg", "pkg.a", "pkg.b"}) == {"pkg.b"}
    assert _cycles({"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}) == [["pkg.a", "pkg.b"]]


def test_no_import_circles_in_the_package():
    graph = _edges_without_package_inits(_graph())
    assert _cycles(graph) == []


def test_core_imports_neither_tornado_nor_jupyter():
    bad = []
    for path in (PACKAGE / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [
                f"{path.name}: {name}"
                for name in names
                if name.split(".")[0]
                in {
                    "tornado",
                    "jupyter_server",
                    "jupyter_client",
                    "jupyter_core",
                    "jupyter_events",
                    "traitlets",
                    "ipykernel",
                    "IPython",
                }
            ]
    assert bad == []


def test_dependencies_point_one_way():
    graph = _graph()
    core = {name: targets for name, targets in graph.items() if name.startswith(f"{ROOT}.core")}
    # Core never reaches a shell
    upward = [
        (name, target)
        for name, targets in core.items()
        for target in targets
        if target.startswith(SHELLS)
    ]
    assert upward == []
    # Workers and services never import the facade; only the package's front door does
    to_facade = [
        name
        for name, targets in core.items()
        if FACADE in targets and name not in (f"{ROOT}.core", FACADE)
    ]
    assert to_facade == []
    worker_modules = [name for name in core if name.startswith(WORKERS)]
    assert worker_modules, "the worker modules were not found: update WORKERS"


def test_the_facade_and_every_module_stay_small():
    modules = _modules()
    facade_lines = len(modules[FACADE].read_text().splitlines())
    assert facade_lines <= FACADE_MAX_LINES
    too_long = {
        name: count
        for name, path in modules.items()
        if (count := len(path.read_text().splitlines())) > MODULE_MAX_LINES
    }
    assert too_long == {}


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (
            "pennlayer_ext.core.jobkinds:JOB_KINDS",
            {"build", "populate", "run", "archive", "restore"},
        ),
        ("pennlayer_ext.core.coldstore:COLD_STORES", {"local", "s3"}),
        ("pennlayer_ext.core.sources:SOURCES", {"local", "http", "s3"}),
        ("pennlayer_ext.core.processors:PROCESSORS", {"copy", "unpack", "command", "docker"}),
        ("pennlayer_ext.core.sandbox:BACKENDS", {"bwrap", "docker", "none"}),
    ],
)
def test_variants_are_listed_in_one_table(registry, names):
    import importlib

    module, attribute = registry.split(":")
    table = getattr(importlib.import_module(module), attribute)
    assert set(table) == names
    for name, cls in table.items():
        assert cls.name == name
        # One class per variant, each in a module of its own
        assert cls.__module__.rsplit(".", 1)[-1] == name


def test_the_local_manager_implements_the_api_with_the_same_signatures(tmp_path):
    import inspect

    from pennlayer_ext.core import LayerManager, LayerManagerAPI

    manager = LayerManager(tmp_path / "store")
    assert isinstance(manager, LayerManagerAPI)
    methods = [
        name
        for name, value in vars(LayerManagerAPI).items()
        if callable(value) and not name.startswith("_")
    ]
    assert "create" in methods
    assert "start_populate" in methods
    for name in methods:
        declared = inspect.signature(getattr(LayerManagerAPI, name)).parameters
        implemented = inspect.signature(getattr(LayerManager, name)).parameters
        # Every declared parameter exists, of the same kind, with the same default.
        for param in declared.values():
            assert param.name in implemented, (name, param.name)
            assert implemented[param.name].kind == param.kind, (name, param.name)
            assert implemented[param.name].default == param.default, (name, param.name)


def test_handlers_never_call_the_manager_on_the_event_loop():
    """``self.manager.x(...)`` in a handler would run core on the loop: use ``self.call``."""
    direct = []
    for path in (PACKAGE / "handlers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "manager"
            ):
                direct.append(f"{path.name}:{node.lineno}")
    assert direct == []


def test_every_request_schema_is_loaded_at_start():
    from pennlayer_ext.schemas import REQUEST_SCHEMAS, schema_dir

    on_disk = {path.stem for path in (schema_dir() / "requests").glob("*.json")}
    assert set(REQUEST_SCHEMAS) == on_disk
