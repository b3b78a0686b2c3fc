"""The shape of the code, read from its imports (issue 13): layers point one way, the engine's
modules import each other without a cycle, the core never imports a feature, no private name
crosses a module, and the engine's imports sit at the top of its modules.

Each rule fails with the offending module and line, so a newcomer sees what to move.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "platform"
# an import points to a lower layer; the field types sit below all (they know values only)
LAYERS = {"fieldtypes": -1, "metadata": 0, "engine": 1, "web": 2, "cli": 2}
# the core of the engine; it may not import a feature (they plug in through the hooks)
CORE = {"access", "coerce", "db", "errors", "formats", "pipeline", "query", "records",
        "rollups", "rows", "runtime", "schema", "search", "sqlexpr", "sync", "systables", "text",
        "types", "users", "versions"}
# where an import inside a function is a mistake: the engine and the metadata language (the
# command line imports its commands' modules when they run, to start fast)
TOP_ONLY = ("engine", "metadata", "fieldtypes")


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted under metacrm ("engine.records")
    target: str  # imported module, dotted under metacrm, or an outside module
    names: tuple[str, ...]
    line: int
    top: bool  # at module level (not in a function, not under TYPE_CHECKING)
    typing_only: bool


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".")[:-1] if not path.name == "__init__.py" else name.split(".")
    typing_nodes = {id(n) for stmt in tree.body if isinstance(stmt, ast.If)
                    and "TYPE_CHECKING" in ast.unparse(stmt.test) for n in ast.walk(stmt)}
    top_nodes = {id(stmt) for stmt in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("metacrm"):
                target = node.module.removeprefix("metacrm").lstrip(".")
            else:
                target = "@" + (node.module or "")
            names = tuple(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            target = "@" + node.names[0].name
            names = ()
        else:
            continue
        found.append(Import(name, target, names, node.lineno, id(node) in top_nodes,
                            id(node) in typing_nodes))
    return found


def resolved(imp: Import, known: dict[str, Path]) -> list[tuple[str, tuple[str, ...]]]:
    """The package modules an import reaches, with the names taken from each: `from . import
    records` reaches engine.records; `from .records import load` reaches it for `load`."""
    if imp.target.startswith("@"):
        return []
    out = [(f"{imp.target}.{n}" if imp.target else n, ()) for n in imp.names
           if (f"{imp.target}.{n}" if imp.target else n) in known]
    if imp.target in known:
        out.append((imp.target, tuple(n for n in imp.names if f"{imp.target}.{n}" not in known)))
    return out


def all_imports() -> tuple[dict[str, Path], list[Import]]:
    known = modules()
    return known, [imp for name, path in known.items() for imp in imports_of(name, path)]


def engine_graph() -> dict[str, set[str]]:
    known, imports = all_imports()
    graph: dict[str, set[str]] = {m.split(".")[1]: set() for m in known
                                  if m.startswith("engine.") and m != "engine.__init__"}
    for imp in imports:
        if not imp.module.startswith("engine.") or imp.typing_only:
            continue
        for target, _ in resolved(imp, known):
            if target.startswith("engine.") and target != "engine.__init__":
                graph[imp.module.split(".")[1]].add(target.split(".")[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_engine_imports_itself_without_a_cycle():
    assert cycles(engine_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_core_never_imports_a_feature():
    graph = engine_graph()
    assert CORE <= set(graph), f"unknown core modules: {CORE - set(graph)}"
    wrong = {(m, t) for m in CORE for t in graph[m] if t not in CORE}
    assert wrong == set(), "the core imports features (plug them in through hooks instead)"


def test_layers_point_one_way():
    known, imports = all_imports()
    wrong = []
    for imp in imports:
        for target, _ in resolved(imp, known):
            here, there = imp.module.split(".")[0], target.split(".")[0]
            if there in LAYERS and LAYERS.get(here, 0) < LAYERS[there]:
                wrong.append(f"{imp.module}:{imp.line} imports {target}")
    assert wrong == []


def test_no_private_name_crosses_a_module():
    known, imports = all_imports()
    wrong = [f"{imp.module}:{imp.line} imports {target}.{name}"
             for imp in imports for target, names in resolved(imp, known)
             for name in names if name.startswith("_") and not name.startswith("__")]
    # module._name through an imported module
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {a.asname or a.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) for a in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                wrong.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert wrong == []


def test_the_engine_imports_at_the_top():
    _, imports = all_imports()
    late = [f"{imp.module}:{imp.line} imports {imp.target.lstrip('@')} in a function"
            for imp in imports if not imp.top and not imp.typing_only
            and imp.module.split(".")[0] in TOP_ONLY]
    assert late == []


def test_the_web_never_builds_sql():
    """Screens and the API call engine functions; the SQL of saved views, notifications,
    sign-in bookkeeping and the home page's activity lives in the engine."""
    _, imports = all_imports()
    wrong = [f"{imp.module}:{imp.line} imports {imp.target.lstrip('@')}" for imp in imports
             if imp.module.split(".")[0] in ("web", "cli")
             and imp.target.lstrip("@").split(".")[0] == "sqlalchemy"
             and imp.target != "@sqlalchemy.exc"]  # catching the database's errors is fine
    assert wrong == []
    tables = [f"{name}:{node.lineno}" for name, path in modules().items()
              if name.startswith("web.")
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "system"]  # schema.system["mc_..."]
    assert tables == [], "the web reads MetaCRM's own tables: ask an engine function"



# --- field types (fieldtypes): what a type does is asked of the type -----------------

# the types whose definitions mean more than their values: a lookup is a relation (its `to`),
# a formula, a rollup and an autonumber are worked out by the engine from their definitions
DEFINED_BY_KEYS = {"lookup", "formula", "rollup", "autonumber"}
TYPE_ATTRIBUTES = {"type", "value_type"}
TYPE_VARIABLES = {"ftype", "vtype", "type_name"}


def _names_a_type(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in TYPE_ATTRIBUTES or \
        isinstance(node, ast.Name) and node.id in TYPE_VARIABLES


def _type_names(node: ast.expr) -> set[str]:
    from metacrm.fieldtypes import FIELD_TYPES

    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and i.value in FIELD_TYPES}


def type_branches(tree: ast.AST) -> list[tuple[int, set[str]]]:
    """(line, type names) of each comparison of a field's type with type names, and of each
    lookup of a field's type in a table keyed by type names."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_type(s) for s in sides):
                names = set().union(*(_type_names(s) for s in sides))
                if names:
                    found.append((node.lineno, names))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "get" and node.args and _names_a_type(node.args[0]) and \
                isinstance(node.func.value, ast.Dict):
            names = set().union(*(_type_names(k) for k in node.func.value.keys if k))
            if names:
                found.append((node.lineno, names))
    return found


def test_no_module_branches_on_a_field_types_name():
    """Adding a field type is one definition in its family's module (plus its form macro):
    no other module keeps a list of type names, so none can miss the new one."""
    wrong = []
    for name, path in modules().items():
        if name.startswith("fieldtypes"):
            continue
        for line, names in type_branches(ast.parse(path.read_text(encoding="utf-8"))):
            if names - DEFINED_BY_KEYS:
                wrong.append(f"{name}:{line} branches on {sorted(names - DEFINED_BY_KEYS)}")
    assert wrong == [], "ask the field's kind (FieldDef.kind) a fact or a behaviour instead"


def test_the_type_branch_finder_finds_them():
    code = ("if f.type == 'picklist': pass\n"
            "if f.value_type in ('date', 'datetime'): pass\n"
            "x = {'text': 1, 'email': 2}.get(fdef.type, 0)\n"
            "if ftype != 'lookup': pass\n"
            "if kind == 'date': pass\n")
    assert type_branches(ast.parse(code)) == [
        (1, {"picklist"}), (2, {"date", "datetime"}), (3, {"text", "email"}), (4, {"lookup"})]
