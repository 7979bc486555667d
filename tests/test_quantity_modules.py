"""The quantity language split into modules (issue 13): ``verify.lang.quantity`` stays the facade.

``tests/test_quantity_parser.py`` reads the facade's source for evaluators; since the code moved into
``verify/lang/quantity_*.py``, this test scans every one of them, and checks that every name any
module of the repository imports from the facade still resolves there to the implementing object.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path

import verify.lang.quantity as facade

ROOT = Path(__file__).resolve().parents[1]
QUANTITY_MODULES = sorted((ROOT / "verify" / "lang").glob("quantity*.py"))
FORBIDDEN_NAMES = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "getattr", "S",
                   "lambdify", "subprocess", "os"}


def evaluator_uses(source: str) -> list[str]:
    """Every way ``source`` could hand text to an evaluator (the rules of test_quantity_parser)."""
    found = re.findall(r"sympify|parse_expr|literal_eval", source)
    found += re.findall(r"^\s*(?:import|from)\s+(?:ast|builtins|importlib)\b", source, re.M)
    names = {tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.NAME}
    return found + sorted(names & FORBIDDEN_NAMES)


def test_the_split_modules_exist_and_stay_small():
    names = {p.name for p in QUANTITY_MODULES}
    assert {"quantity.py", "quantity_ast.py", "quantity_tokens.py", "quantity_parse.py", "quantity_shape.py",
            "quantity_eval.py"} <= names
    assert {p.name: n for p in QUANTITY_MODULES if (n := len(p.read_text().splitlines())) > 400} == {}


def test_no_quantity_module_evaluates_text():
    found = {p.name: uses for p in QUANTITY_MODULES if (uses := evaluator_uses(p.read_text()))}
    assert found == {}


def test_evaluator_scan_sees_an_evaluator():
    """Negative control: the scan flags the calls it exists to catch."""
    assert evaluator_uses("x = eval(text)\n") == ["eval"]
    assert evaluator_uses("import ast\n") != []
    assert evaluator_uses("from sympy import sympify\n") != []


def _imported_from_facade() -> dict[str, set[str]]:
    """name -> files that write ``from verify.lang.quantity import name`` (or use the module attribute)."""
    out: dict[str, set[str]] = {}
    for folder in ("verify", "tests", "proofs", "numerics", "benchmarks", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "verify.lang.quantity":
                    for alias in node.names:
                        out.setdefault(alias.name, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_name_imported_from_the_facade_resolves_to_its_implementation():
    imported = _imported_from_facade()
    # The scan is not vacuous: verify.torch and the parser tests import through the facade.
    assert {"instantiate", "parse_quantity", "quantity_shape", "Slice", "unparse"} <= set(imported)
    for name in sorted(set(imported) | set(facade.__all__)):
        assert hasattr(facade, name), (name, imported.get(name))
        obj = getattr(facade, name)
        homes = [m for m in ("quantity_ast", "quantity_parse", "quantity_shape", "quantity_eval")
                 if getattr(importlib.import_module(f"verify.lang.{m}"), name, None) is obj]
        assert homes, f"{name} is not the object of any verify.lang.quantity_* module"
