"""User-defined activations: a scalar formula in ``z`` such as ``"z * sigmoid(z)"`` (swish).

The text is parsed by Python's ``ast`` module (parsing never executes anything) and the tree is
walked with a whitelist: numbers, the variable ``z``, the constants ``pi`` and ``E``, ``+ - * /
**``, unary ``-``/``+`` and calls of the one-argument functions in ``FUNCTIONS`` (``abs`` among them). Every other node
is rejected with its column. SymPy expressions are *built* from the walk; user text never reaches
``eval``, ``sympify`` or ``parse_expr``.
"""

from __future__ import annotations

import ast
import math
from types import MappingProxyType

import sympy as sp

from verify.errors import SpecError, closest, echo
from verify.model.activations import Activation, Z, from_formula

__all__ = ["Z", "FUNCTIONS", "parse_formula", "custom", "MAX_FORMULA_LENGTH"]


MAX_FORMULA_LENGTH = 500
_MAX_NODES = 400
_MAX_EXPONENT = 64
#: Functions that grow like exp, and how deep they may nest in one formula.
_GROWTH = frozenset({"exp", "sinh", "cosh"})
_MAX_GROWTH_NESTING = 2

FUNCTIONS = MappingProxyType({
    "abs": sp.Abs, "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sinh": sp.sinh,
    "cosh": sp.cosh, "sin": sp.sin, "cos": sp.cos, "atan": sp.atan, "erf": sp.erf,
    "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
    "softplus": lambda a: sp.log(1 + sp.exp(a)),
})
_CONSTANTS = MappingProxyType({"z": Z, "pi": sp.pi, "E": sp.E})
_BINARY = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
           ast.Div: lambda a, b: a / b, ast.Pow: sp.Pow}


def _fail(text: str, col: int, what: str, todo: str) -> SpecError:
    return SpecError(f"activation formula {echo(text)}, column {col + 1}: {what}. {todo}")


def parse_formula(text: str) -> sp.Expr:
    """Exact SymPy expression in ``Z`` for the formula text; ``SpecError`` names the column."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"activation formula {text!r}: expected a non-empty text such as 'z*sigmoid(z)'.")
    if "\n" in text or "\r" in text:
        raise _fail(text, text.find("\n") if "\n" in text else text.find("\r"), "line break in the formula",
                    "Write the formula on one line.")
    if len(text) > MAX_FORMULA_LENGTH:
        raise _fail(text, MAX_FORMULA_LENGTH, f"formula of {len(text)} characters is too long",
                    f"Keep it under {MAX_FORMULA_LENGTH} characters.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _fail(text, max((exc.offset or 1) - 1, 0), f"syntax error ({exc.msg})",
                    "Write e.g. 'z*sigmoid(z)' or '0.5*z*(1 + erf(z/sqrt(2)))'.") from None
    except (RecursionError, MemoryError, ValueError):
        raise _fail(text, 0, "expression nested too deeply or invalid", "Simplify the formula.") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise _fail(text, 0, "formula too large", f"Use at most {_MAX_NODES} syntax nodes.")
    offset = len(text) - len(text.lstrip())
    expr = _build(tree.body, text, offset)
    if not isinstance(expr, sp.Expr) or expr.free_symbols - {Z}:
        raise _fail(text, 0, "not a scalar expression in z", "Use only z, numbers and the listed functions.")
    if expr.has(sp.I, sp.zoo, sp.oo, sp.nan):
        raise _fail(text, 0, f"the formula is not a finite real function of z ({_short(expr)})",
                    "Use real operations, e.g. sqrt(z**2 + 1) rather than sqrt(-1).")
    if Z not in expr.free_symbols:
        raise _fail(text, 0, "the formula does not depend on z", "An activation must use its argument z.")
    return expr


def _build(node: ast.AST, text: str, off: int) -> sp.Expr:
    col = off + getattr(node, "col_offset", 0)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _fail(text, col, f"literal {node.value!r} is not a number", "Use numbers such as 2 or 0.5.")
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise _fail(text, col, f"literal {ast.unparse(node)} overflows to infinity", "Use a finite number.")
        if isinstance(node.value, int) and node.value.bit_length() > 256:
            raise _fail(text, col, "integer literal of more than 256 bits", "Use a smaller number.")
        # str() keeps the literal exact: 0.1 -> 1/10, not the binary double.
        return sp.Rational(str(node.value)) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            near = closest(node.id, _CONSTANTS)
            raise _fail(text, col, f"unknown name {node.id!r}" + (f" (did you mean {near[0]!r}?)" if near else ""),
                        "The only variable is z; constants: pi, E.")
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _build(node.operand, text, off)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, text, off), _build(node.right, text, off)
        if isinstance(node.op, ast.Div) and right == 0:
            raise _fail(text, col, "division by zero", "Fix the denominator.")
        if isinstance(node.op, ast.Pow) and right.is_Number and abs(right) > _MAX_EXPONENT:
            # A bound before SymPy computes anything: 9**9**9 would otherwise hang.
            raise _fail(text, col, f"exponent {right} is too large", f"Use exponents up to {_MAX_EXPONENT}.")
        out = _BINARY[type(node.op)](left, right)
        if isinstance(node.op, ast.Pow) and any(p.exp.is_Number and abs(p.exp) > _MAX_EXPONENT
                                                for p in out.atoms(sp.Pow)):
            # SymPy multiplies nested integer powers: ((z**64)**64)**64 is z**262144 (issue 15)
            raise _fail(text, col, "nested exponents multiply to more than the cap",
                        f"Keep the product of nested exponents up to {_MAX_EXPONENT}.")
        return out
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            near = closest(str(name), FUNCTIONS)
            raise _fail(text, col, f"unknown function {name or ast.unparse(node.func)!r}"
                        + (f" (did you mean {near[0]!r}?)" if near else ""),
                        "Allowed: " + ", ".join(FUNCTIONS) + ".")
        if node.keywords or len(node.args) != 1:
            raise _fail(text, col, f"{name} takes exactly one argument", f"Write e.g. {name}(z).")
        assert name is not None  # an unknown (or unnamed) function was refused above
        inner = _build(node.args[0], text, off)
        if name in _GROWTH and _growth_depth(inner) >= _MAX_GROWTH_NESTING:
            # exp(exp(exp(z))) at z = 3 has ~10**229 digits: no exact evaluation can certify it (issue 15)
            raise _fail(text, col, f"{name} of a {'/'.join(sorted(_GROWTH))} nested {_MAX_GROWTH_NESTING} deep",
                        f"Nest exp, sinh and cosh at most {_MAX_GROWTH_NESTING} deep.")
        return FUNCTIONS[name](inner)
    raise _fail(text, col, f"{type(node).__name__} is not allowed here",
                "Use numbers, z, + - * / ** and the listed functions.")


def _growth_depth(e: sp.Expr) -> int:
    """Deepest nesting of exp / sinh / cosh in ``e`` (SymPy writes sigmoid and softplus with exp too)."""
    if not e.args:
        return 0
    inner = max(_growth_depth(a) for a in e.args)
    return inner + (e.func in (sp.exp, sp.sinh, sp.cosh))


def custom(text: str, name: str | None = None) -> Activation:
    """A user's activation formula in z, e.g. ``custom("z*sigmoid(z)", "swish")``: nothing is declared;
    its homogeneity is derived by SymPy (``verify.model.homogeneity``), e.g. abs(z) of degree 1."""
    formula = parse_formula(text)  # first: it refuses a non-text formula in one line
    return from_formula(formula, name or text.strip())


def _short(expr: sp.Expr) -> str:
    shown = sp.sstr(expr)
    return shown if len(shown) <= 60 else shown[:60] + "..."
