"""The package's layers stay true: no upward import, one extension point per layer kind, a public
API that lists exactly what it exports (issue 13).

Ranks (an import may only go to the same or a lower rank):
0 errors, certificates, claims, _infra < 1 model < 2 interpret < 3 prove, laws, numerics
< 4 lang < 5 testing, proofs < 6 jobs, torch.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import types

import pytest

import verify

ROOT = pathlib.Path(verify.__file__).resolve().parent
#: installed path of each top-level folder (proofs/ and numerics/ are mapped into verify.*)
TREES = {"verify": ROOT, "verify.proofs": ROOT.parent / "proofs", "verify.numerics": ROOT.parent / "numerics"}
RANK = {
    "verify.errors": 0, "verify.certificates": 0, "verify.claims": 0, "verify._infra": 0,
    "verify.model": 1, "verify.interpret": 2, "verify.prove": 3, "verify.laws": 3, "verify.numerics": 3,
    "verify.lang": 4, "verify.testing": 5, "verify.proofs": 5, "verify.jobs": 6, "verify.torch": 6, "verify.__main__": 6,
}
LAYER_CLASS_NAMES = {"Dense", "Act", "DiagonalLinear", "Pool", "Residual", "Normalize", "NormalizedDense",
                     "Attention", "Scale"}


def rank(module: str) -> int | None:
    best = None
    for prefix, r in RANK.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, r)
    return None if best is None else best[1]


def modules():
    for package, tree in TREES.items():
        for path in sorted(tree.rglob("*.py")):
            rel = path.relative_to(tree).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield ".".join([package, *parts]), path, path.name == "__init__.py"


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``source``, relative ones resolved."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            out.append((node.lineno, base))
    return out


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    mine = rank(module)
    if mine is None:
        return []
    bad = []
    for line, target in imports_of(source, module, is_package):
        theirs = rank(target)
        if theirs is not None and theirs > mine:
            bad.append(f"{module}:{line} imports {target} (rank {theirs} > {mine})")
    return bad


def test_no_upward_import():
    bad = []
    for module, path, is_package in modules():
        if module == "verify":
            continue  # the top-level package only re-exports (lazily)
        bad += upward_imports(path.read_text(), module, is_package)
    assert not bad, "\n".join(bad)


def test_layer_check_catches_an_upward_import():
    """Negative control: the checker flags model importing prove, and lang importing jobs (relative)."""
    assert upward_imports("from verify.prove import prove_conserved\n", "verify.model.core")
    assert upward_imports("from ..jobs.cli import main\n", "verify.lang.spec")
    assert not upward_imports("from verify.model import Model\n", "verify.prove.concrete")


def test_every_module_has_a_rank():
    assert [m for m, _, _ in modules() if m != "verify" and rank(m) is None] == []


def test_modules_stay_under_400_lines():
    long = {m: n for m, path, _ in modules() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def _isinstance_on_layers(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            if names & LAYER_CLASS_NAMES:
                lines.append(node.lineno)
    return lines


def test_interpreters_and_spec_reader_dispatch_through_the_layer_kinds():
    """No type switch over layer kinds in the symbolic / numeric interpreters, the proofs' hypotheses
    or the spec reader: each layer kind answers for itself (verify/model/layers)."""
    readers = ["interpret/symbolic.py", "interpret/numeric.py", "interpret/jets.py", "lang/spec.py", "prove/concrete.py",
               "model/core.py", "laws/lie_rank.py", "prove/generic_net.py"]
    found = {r: _isinstance_on_layers((ROOT / r).read_text()) for r in readers}
    assert {r: ls for r, ls in found.items() if ls} == {}
    assert _isinstance_on_layers("isinstance(layer, (Dense, Act))")  # control: the scan sees a switch


PACKAGES = ["verify", "verify.model", "verify.prove", "verify.testing", "verify.lang", "verify.interpret",
            "verify.laws", "verify.jobs"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_exports(name):
    """As Hypothesis checks its own ``__all__``: every listed name resolves, and every public
    non-module attribute of the package is listed."""
    package = importlib.import_module(name)
    listed = set(package.__all__)
    for attr in listed:
        assert getattr(package, attr) is not None, attr
    public = {a for a in vars(package) if not a.startswith("_") and a != "annotations"
              and not isinstance(getattr(package, a), types.ModuleType)}
    assert public - listed == set()


def test_py_typed_ships():
    assert (ROOT / "py.typed").is_file()
