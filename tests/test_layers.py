"""The package's rooms import only downward, and nothing imports in a loop.

    _types < _providers < _core < _records < _money < _client < _quality < _knowledge < _jobs < _evals
    < _gateway < _cli
    < the public face (unyo/__init__, unyo.guards, unyo.testing, __main__)

Every import counts: module level, inside functions (lazy) and under TYPE_CHECKING. A lazy
import still makes the lower room depend on the upper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS = [
    "_types",
    "_providers",
    "_core",
    "_records",
    "_money",
    "_client",
    "_quality",
    "_knowledge",
    "_jobs",
    "_evals",
    "_gateway",
    "_cli",
]
TOP = len(LAYERS)


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "unyo").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


def _imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported unyo module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(n) for n in tree.body} | {id(n) for n in tree.body if isinstance(n, ast.If) for n in n.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("unyo") and name in known and name != module and not module.startswith(name + "."):
                out.append((name, node.lineno, id(node) in top_level))
    return out


def test_no_room_imports_upward() -> None:
    known = _modules()
    upward = []
    for module, path in sorted(known.items()):
        for target, line, _ in _imports(module, path, known):
            if target != "unyo" and layer(target) > layer(module):
                upward.append(f"{path.relative_to(SRC)}:{line}: {module} imports {target}")
            if target == "unyo" and layer(module) < TOP:
                upward.append(
                    f"{path.relative_to(SRC)}:{line}: {module} imports the public package (use the private module)"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    known = _modules()
    graph = {m: {t for t, _, top in _imports(m, p, known) if top} for m, p in known.items()}
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_module_lives_in_a_room() -> None:
    loose = [
        m
        for m in _modules()
        if m.count(".") == 1
        and m.split(".")[1].startswith("_")
        and m.split(".")[1] not in (*LAYERS, "__main__", "__init__")
    ]
    assert not loose, f"private modules outside the layer packages: {loose}"


def test_only_the_provider_layer_asks_what_a_profile_is() -> None:
    """Capabilities, not identity: `profile.local` and `profile.name == ...` stay in _providers."""
    import re

    asking = re.compile(r"profile\.local\b|profile\.name\s*[!=]=|prof\.name\s*[!=]=")
    found = [
        f"{p.relative_to(SRC)}:{n}: {line.strip()}"
        for m, p in _modules().items()
        if layer(m) != LAYERS.index("_providers")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if asking.search(line)
    ]
    assert not found, "ask the profile for a capability instead:\n" + "\n".join(found)
