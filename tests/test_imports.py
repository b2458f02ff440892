"""The layer table, enforced: which package of ``lstm_search`` may import which.

Every module of the package is read with :mod:`ast` (nothing is imported to do so) and every
import is collected: top-level ones and those inside functions, ``from . import x`` and other
relative imports, and ``importlib.import_module("lstm_search...")`` with a constant string. A
"package" is the first name under ``lstm_search`` (``lstm_search.compile._plan`` is in
``compile``; the top-level modules ``zoo``, ``train`` ... are packages of their own here).

    genome        -> (nothing)
    zoo           -> genome
    compile       -> genome
    nn            -> compile, genome, zoo
    config        -> (nothing)
    checkpoint    -> (nothing)
    data          -> (nothing)
    tasks         -> config, data, nn
    train         -> checkpoint, config, nn, tasks
    evaluate      -> config, genome, nn, provenance, results, tasks, train
    results       -> (nothing)
    provenance    -> compile
    declarations  -> (nothing)
    catalogue     -> (nothing)
    spaces        -> declarations, genome, zoo
    experiment    -> config, declarations, genome, results, spaces
    suite         -> config, declarations
    search        -> config, data, evaluate, experiment, genome, provenance, results, spaces,
                     suite, tasks, train, zoo
    analysis      -> genome, results, suite, zoo
    bench         -> compile, genome, nn, zoo
    __main__      -> cli
    cli           -> anything
    lstm_search   -> anything (the package's ``__init__``: its lazy public names)

The same table is in the package docstring of ``lstm_search/__init__.py`` (checked equal).
Besides: no module imports another package's ``_private`` module or ``_private`` name; a module
takes nothing but ``__version__`` from the package's ``__init__``; ``import lstm_search`` stays
light (no torch, ray, optuna, seaborn, matplotlib) and the results table and its analysis need
no torch.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import lstm_search

ROOT = "lstm_search"
PACKAGE_DIR = Path(lstm_search.__file__).resolve().parent
ANYTHING = "anything"

# The table of this module's docstring, parsed once (it is the one source of the rules).
_LINE = re.compile(r"^\s{4}([\w]+)\s+->\s+(.+?)\s*$")
_MORE = re.compile(r"^\s{21}(\w.*?)\s*$")  # a long line's continuation, under its list


def parse_table(text: str) -> dict[str, set[str] | str]:
    """``{package: allowed imports}`` from the lines ``    name -> a, b,`` of ``text`` (a list
    ending in a comma goes on under itself on the next line)."""
    table: dict[str, set[str] | str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        if not m:
            continue
        name, rhs = m.groups()
        j = i + 1
        while rhs.endswith(",") and j < len(lines) and _MORE.match(lines[j]):
            rhs += " " + _MORE.match(lines[j]).group(1)
            j += 1
        if rhs.startswith(ANYTHING):
            table[name] = ANYTHING
        elif rhs.startswith("(nothing)"):
            table[name] = set()
        else:
            table[name] = {p.strip() for p in rhs.split(",")}
    return table


LAYERS = parse_table(__doc__ or "")


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    source: str  # the importing module, e.g. lstm_search.nn._layer
    target: str  # the imported module, e.g. lstm_search.compile
    names: tuple[str, ...]  # names taken with ``from target import ...``

    def where(self) -> str:
        return f"{self.file.relative_to(PACKAGE_DIR.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` (dotted) is a module or package of the source tree."""
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    base = PACKAGE_DIR / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    """Every import of ``lstm_search`` in the file, wherever it stands in the file."""
    source = module_name(path)
    is_pkg = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, source, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = source.split(".") if is_pkg else source.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for a in node.names:
                sub = f"{module}.{a.name}"
                if is_module(sub) and module.startswith(ROOT):
                    found.append(Import(path, node.lineno, source, sub, ()))
                else:
                    found.append(Import(path, node.lineno, source, module, (a.name,)))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) == "import_module")):
            found.append(Import(path, node.lineno, source, node.args[0].value, ()))
    found.sort(key=lambda i: i.line)  # ast.walk goes breadth first
    return [i for i in found if i.target == ROOT or i.target.startswith(ROOT + ".")]


def package_of(module: str) -> str:
    """``lstm_search.compile._plan`` -> ``compile``; the package's ``__init__`` -> itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def all_imports() -> list[Import]:
    return [i for f in sorted(PACKAGE_DIR.rglob("*.py")) for i in imports_of(f)]


def layer_violations(imports: list[Import], table: dict[str, set[str] | str]) -> list[str]:
    out = []
    for i in imports:
        src, dst = package_of(i.source), package_of(i.target)
        if src == dst:
            continue
        if dst == ROOT:
            extra = [n for n in i.names if n != "__version__"]
            if extra and table.get(src) != ANYTHING:
                out.append(f"{i.where()}: {src} takes {', '.join(extra)} from {ROOT}'s "
                           f"__init__ (import it from the package that defines it)")
            continue
        allowed = table.get(src)
        if allowed is None:
            out.append(f"{i.where()}: {src} is not in the layer table (add it to the table in "
                       f"tests/test_imports.py and lstm_search/__init__.py)")
        elif allowed != ANYTHING and dst not in allowed:
            out.append(f"{i.where()}: {src} -> {dst} ({i.source} imports {i.target}) is not "
                       f"in the layer table; {src} may import "
                       f"{', '.join(sorted(allowed)) or 'nothing'}")
    return list(dict.fromkeys(out))  # one line per edge and place, not per imported name


def private_violations(imports: list[Import]) -> list[str]:
    out = []
    for i in imports:
        src, dst = package_of(i.source), package_of(i.target)
        if src == dst or dst == ROOT:
            continue
        private = [p for p in i.target.split(".")[2:] if p.startswith("_")
                   and not p.startswith("__")]
        private += [n for n in i.names if n.startswith("_") and not n.startswith("__")]
        if private:
            out.append(f"{i.where()}: {i.source} imports {i.target}"
                       f"{' (' + ', '.join(i.names) + ')' if i.names else ''}: private to "
                       f"{dst} ({', '.join(private)}); export it from {ROOT}.{dst}")
    return out


def test_the_table_is_the_package_docstrings_and_has_no_cycle() -> None:
    assert LAYERS, "the layer table in this module's docstring did not parse"
    documented = parse_table(lstm_search.__doc__ or "")
    mine = {k: v for k, v in LAYERS.items() if v != ANYTHING}
    assert documented == mine, ("the layer table in lstm_search/__init__.py differs from "
                                "the one in tests/test_imports.py")
    # a layer table is a partial order: no package reaches itself
    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(mine.get(start, set()))
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo += list(mine.get(p, set()))
        return seen

    cycles = [p for p in mine if p in reach(p)]
    assert not cycles, f"the layer table has a cycle through {cycles}"


def test_every_package_is_in_the_table() -> None:
    packages = {package_of(module_name(f)) for f in PACKAGE_DIR.rglob("*.py")}
    assert packages - set(LAYERS) == set()


def test_imports_follow_the_layer_table() -> None:
    problems = layer_violations(all_imports(), LAYERS)
    assert not problems, "imports against the layer table:\n" + "\n".join(problems)


def test_no_package_imports_another_packages_private_modules() -> None:
    problems = private_violations(all_imports())
    assert not problems, "private imports across packages:\n" + "\n".join(problems)


def test_the_walker_sees_lazy_relative_and_importlib_imports(tmp_path, monkeypatch) -> None:
    """A guard on the guard: an edge in each form the walker must see is reported with its
    file, line and edge (the module is written inside a copy of the package's layout)."""
    pkg = tmp_path / ROOT
    for name in ("compile", "nn", "zoo", "genome"):
        (pkg / name).mkdir(parents=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "nn" / "_models.py").write_text("")
    (pkg / "compile" / "bad.py").write_text(
        "import importlib\n"
        "from lstm_search.genome import Genome\n"              # allowed
        "def f():\n"
        "    from lstm_search.nn import RecurrentStack\n"       # lazy, against the table
        "from .. import zoo\n"                                  # relative, against the table
        "from ..nn import _models\n"                            # relative, private
        "importlib.import_module('lstm_search.nn._models')\n")  # importlib, private
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", pkg)
    found = imports_of(pkg / "compile" / "bad.py")
    layers = layer_violations(found, LAYERS)
    assert [p.split(": ")[0] for p in layers] == [f"{ROOT}/compile/bad.py:{n}"
                                                  for n in (4, 5, 6, 7)]
    assert "compile -> nn" in layers[0] and "compile -> zoo" in layers[1]
    private = private_violations(found)
    assert [p.split(": ")[0] for p in private] == [f"{ROOT}/compile/bad.py:{n}" for n in (6, 7)]
    assert "_models" in private[0]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(("statement", "banned"), [
    ("import lstm_search", ("torch", "ray", "optuna", "seaborn", "matplotlib")),
    ("import lstm_search.results", ("torch",)),
    ("import lstm_search.analysis", ("torch",)),
])
def test_light_imports_stay_light(statement: str, banned: tuple[str, ...]) -> None:
    loaded = _modules_after(statement)
    heavy = sorted(b for b in banned if b in loaded)
    assert not heavy, f"`{statement}` imports {', '.join(heavy)}"


def test_the_declarations_loader_uses_the_standard_library_only() -> None:
    before = _modules_after("pass")
    after = _modules_after("import lstm_search.declarations")
    outside = sorted({m.split(".")[0] for m in after - before}
                     - set(sys.stdlib_module_names) - {ROOT})
    assert not outside, f"lstm_search.declarations imports {', '.join(outside)}"
    ours = sorted(m for m in after - before if m.startswith(ROOT + "."))
    assert ours == [f"{ROOT}.declarations"], ours
