"""The installed package claims one name, and the engine's imports point down without cycles."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where each installed package's source lives in the repository (pyproject.toml's package-dir).
SOURCES = {"bftlab": ROOT / "bftlab", "bftlab.protocols": ROOT / "protocols", "bftlab.crypto": ROOT / "crypto",
           "bftlab.adversary": ROOT / "adversary"}
PLUGINS = ("bftlab.protocols", "bftlab.crypto", "bftlab.adversary")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if pkg == "bftlab" and any(name == p or name.startswith(p + ".") for p in PLUGINS):
                continue
            out[name] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Modules of the project that ``path`` imports, anywhere in the file (lazy imports count)."""
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name if is_pkg else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own parents
                found.add(target)
    return found


def test_the_engine_never_imports_a_plugin_package():
    modules = _modules()
    offenders = {
        name: sorted(t for t in _imports(path, name, modules) if t.startswith(PLUGINS))
        for name, path in modules.items() if name.startswith("bftlab") and not name.startswith(PLUGINS)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert cycles == []


def test_a_wheel_installs_only_bftlab_at_the_top_level(tmp_path):
    """``pip install .`` adds the bftlab package and its dist-info to site-packages, nothing else."""
    # Built from a copy: setuptools writes build/ and egg-info folders next to the sources.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", "build", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache", "docs"))
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(wheel_dir), str(source)], check=True, timeout=120, capture_output=True)
    (wheel,) = wheel_dir.glob("bftlab-*.whl")
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, timeout=120, capture_output=True)
    top = sorted(p.name for p in target.iterdir() if p.name != "bin")
    assert len(top) == 2 and top[0] == "bftlab" and top[1].startswith("bftlab-") and top[1].endswith(".dist-info")
    names = zipfile.ZipFile(wheel).namelist()
    for pkg, folder in SOURCES.items():  # every package of the source tree is in the wheel
        for init in folder.rglob("__init__.py"):
            rel = init.relative_to(folder)
            assert "/".join([*pkg.split("."), *rel.parts]) in names, f"{pkg}: {rel} is missing from the wheel"
    assert "bftlab/protocols/pbft/replica.py" in names and "bftlab/adversary/network.py" in names
    assert "bftlab/crypto/ed25519.py" in names
    # The installed copy imports from its own location, not from the source tree.
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import bftlab.protocols.pbft as p; print(p.__file__)",
         str(target)], check=True, timeout=60, capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.strip().startswith(str(target))


def test_the_engine_names_no_protocol_in_its_code():
    """Protocol names may appear in docstrings, comments and help examples, never in the engine's logic."""
    import importlib
    import io
    import tokenize

    # A protocol is a package under protocols/ that registers a ProtocolSpec; packages the protocols share
    # (cft: the crash-fault client, txn: transactions) name concepts the engine has too.
    packages = sorted(p.name for p in (ROOT / "protocols").iterdir() if (p / "__init__.py").is_file())
    protocols = [p for p in packages if hasattr(importlib.import_module(f"bftlab.protocols.{p}"), "PROTOCOL")]
    names = {p.lower() for p in protocols} | {
        importlib.import_module(f"bftlab.protocols.{p}").PROTOCOL.name.lower() for p in protocols}
    assert {"pbft", "pow", "raft"} <= names and "txn" not in names
    found = []
    for path in sorted((ROOT / "bftlab").rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type == tokenize.NAME and any(n in tok.string.lower().split("_") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    assert found == []
