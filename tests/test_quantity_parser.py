"""Tests of the safe quantity language (verify.lang.quantity), tracker issue 4.

Unit tests pin every construct against SymPy expressions built directly from symbol matrices;
Hypothesis fuzzes the parser with grammar-generated expressions (checked against an independent
SymPy oracle), mutations and truncations of them, arbitrary text, and valid text on parameters of
the wrong shapes. Every fuzz test sets ``max_examples`` explicitly so the total
(2,500 + 3,500 + 3,500 + 1,000 = 10,500 strings) holds under both the ``dev`` and ``ci`` profiles
of ``tests/conftest.py``.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verify.lang.quantity as quantity_module
from verify.errors import BadInput, ShapeMismatch, SpecError, UnknownName
from verify.lang.quantity import (
    MAX_DEPTH, MAX_LENGTH, MAX_NESTING, BinOp, Call, Index, MatMul, Name, Neg, Number, Pow,
    Quantity, Slice, Transpose, instantiate, parse_quantity, quantity_shape, unparse,
)


def sym_matrix(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix(rows, cols, lambda r, c: sp.Symbol(f"{name}[{r},{c}]", real=True))


# Shapes chosen so that index variable i always runs over 3 and j over 2 (see the grammar below).
H, D = 3, 2
X, Y, K = sp.symbols("x y k", real=True)
PARAMS = {
    "x": X, "y": Y, "k": K,
    "u": sym_matrix("u", H, 1), "v": sym_matrix("v", H, 1), "b1": sym_matrix("b1", H, 1),
    "c": sym_matrix("c", D, 1),
    "W1": sym_matrix("W1", H, D), "W2": sym_matrix("W2", D, H),
    "A": sym_matrix("A", H, H), "B": sym_matrix("B", D, D),
}
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.large_base_example,
                                                  HealthCheck.filter_too_much])


def q_of(text: str, params=PARAMS, **kw) -> dict:
    return instantiate(parse_quantity(text), params, **kw)


def only(text: str, params=PARAMS) -> sp.Expr:
    values = q_of(text, params)
    assert list(values) == [()]
    return values[()]


def as_matrix(values: dict, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda r, c: values[(("row", r), ("col", c))])


# --- parsing: AST shape, precedence, literals ---------------------------------------------------
@pytest.mark.parametrize("text, ast", [
    ("a + b*c", BinOp("+", Name("a"), BinOp("*", Name("b"), Name("c")))),
    ("a - b - c", BinOp("-", BinOp("-", Name("a"), Name("b")), Name("c"))),
    ("a / b * c", BinOp("*", BinOp("/", Name("a"), Name("b")), Name("c"))),
    ("-x**2", Neg(Pow(Name("x"), Number(sp.Integer(2))))),
    ("a**b**c", Pow(Name("a"), Pow(Name("b"), Name("c")))),
    ("2**-x", Pow(Number(sp.Integer(2)), Neg(Name("x")))),
    ("+x", Name("x")),
    ("(a + b) * c", BinOp("*", BinOp("+", Name("a"), Name("b")), Name("c"))),
    ("A @ B.T", MatMul(Name("A"), Transpose(Name("B")))),
    ("a + A @ B * c", BinOp("+", Name("a"), BinOp("*", MatMul(Name("A"), Name("B")), Name("c")))),
    ("W[i, :]", Index(Name("W"), (Name("i"), Slice(None, None)))),
    ("W[0, 1:3]", Index(Name("W"), (Number(sp.Integer(0)), Slice(1, 3)))),
    ("W[:2, 1:]", Index(Name("W"), (Slice(None, 2), Slice(1, None)))),
    ("W[i][j]", Index(Index(Name("W"), (Name("i"),)), (Name("j"),))),
    ("(A @ B)[i, j]", Index(MatMul(Name("A"), Name("B")), (Name("i"), Name("j")))),
    ("W.T.T", Transpose(Transpose(Name("W")))),
    ("-W[i]", Neg(Index(Name("W"), (Name("i"),)))),
    ("norm(W1)**2", Pow(Call("norm", (Name("W1"),)), Number(sp.Integer(2)))),
    ("sum(W1[i,:]**2)", Call("sum", (Pow(Index(Name("W1"), (Name("i"), Slice(None, None))),
                                         Number(sp.Integer(2))),))),
])
def test_parse_ast(text, ast):
    assert parse_quantity(text).ast == ast


@pytest.mark.parametrize("literal, value", [
    ("0.5", sp.Rational(1, 2)), ("2", sp.Integer(2)), (".25", sp.Rational(1, 4)),
    ("2.", sp.Integer(2)), ("1e-3", sp.Rational(1, 1000)), ("1E+2", sp.Integer(100)),
    ("0.1", sp.Rational(1, 10)), ("3.14159", sp.Rational(314159, 100000)), ("007", sp.Integer(7)),
])
def test_numbers_are_exact_rationals(literal, value):
    node = parse_quantity(literal).ast
    assert isinstance(node, Number) and node.value == value
    assert isinstance(node.value, sp.Rational)


def test_free_indices_and_names():
    q = parse_quantity("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    assert q == Quantity(q.text, q.ast, ("i",), ("W1", "W2", "b1"))
    assert parse_quantity("W1[j, i] * k").free_indices == ("i", "j")  # sorted
    # Outside brackets a reserved letter is an ordinary parameter name.
    assert parse_quantity("2*k*x - y/3").names == ("k", "x", "y")
    assert parse_quantity("2*k*x - y/3").free_indices == ()


def test_unparse_round_trip_examples():
    for text in ["sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "W1 @ W1.T - W2.T @ W2",
                 "-x**-0.5 + 1e-3*y", "A[0:2, 1:][j, :]", "trace(A.T @ A) / 7"]:
        ast = parse_quantity(text).ast
        assert parse_quantity(unparse(ast)).ast == ast


# --- exact meaning ------------------------------------------------------------------------------
def test_du_1_per_neuron_quantity_exact():
    W1, W2, b1 = PARAMS["W1"], PARAMS["W2"], PARAMS["b1"]  # 3x2, 2x3, (3,): h = 3 neurons
    got = q_of("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    want = {(("i", i),): sum(W1[i, t]**2 for t in range(D)) + b1[i]**2
            - sum(W2[t, i]**2 for t in range(D)) for i in range(H)}
    assert got == want


def test_du_2_matrix_quantity_exact():
    W1, W2 = sym_matrix("W1", 2, 3), sym_matrix("W2", 3, 2)
    got = q_of("W1 @ W1.T - W2.T @ W2", {"W1": W1, "W2": W2})
    assert as_matrix(got, 2, 2) == W1 * W1.T - W2.T * W2
    assert list(got) == [(("row", r), ("col", c)) for r in range(2) for c in range(2)]


def test_hadamard_quantities_exact():
    u, v = PARAMS["u"], PARAMS["v"]
    assert q_of("u[i]*v[i]") == {(("i", i),): u[i] * v[i] for i in range(H)}
    assert q_of("u[i]**2 - v[i]**2") == {(("i", i),): u[i]**2 - v[i]**2 for i in range(H)}


def test_norm_trace_and_scalars_exact():
    W1, W2, A = PARAMS["W1"], PARAMS["W2"], PARAMS["A"]
    frob = lambda M: sum(e**2 for e in M)  # noqa: E731
    assert only("norm(W1)**2 - norm(W2)**2") == frob(W1) - frob(W2)
    assert only("norm(W1)") == sp.sqrt(frob(W1))
    assert only("norm(u)") == sp.sqrt(frob(PARAMS["u"]))
    assert only("trace(W1 @ W1.T)") == (W1 * W1.T).trace()
    assert only("trace(A)") == A.trace()
    assert only("2*k*x - y/3") == 2 * K * X - Y / 3
    assert only("0.5*x**2") == X**2 / 2
    assert only("sum(A)") == sum(A)
    assert only("sqrt(x) + abs(y) + exp(k) + log(x) + tanh(y)") == (
        sp.sqrt(X) + sp.Abs(Y) + sp.exp(K) + sp.log(X) + sp.tanh(Y))


def test_vector_matmul_follows_numpy():
    u, v, W1, W2, c = (PARAMS[n] for n in ("u", "v", "W1", "W2", "c"))
    assert only("u @ v") == (u.T * v)[0, 0]
    assert only("u.T @ v") == (u.T * v)[0, 0]  # .T is a no-op on vectors
    assert q_of("W1 @ c") == {(("entry", r),): (W1 * c)[r] for r in range(H)}
    assert q_of("c @ W2") == {(("entry", r),): (c.T * W2)[r] for r in range(H)}
    assert q_of("(W1 @ W2)[i, j]") == {
        (("i", i), ("j", j)): (W1 * W2)[i, j] for i in range(H) for j in range(H)}


def test_indexing_and_slicing():
    W1, A = PARAMS["W1"], PARAMS["A"]
    assert q_of("W1[i]") == {(("i", i), ("entry", t)): W1[i, t] for i in range(H) for t in range(D)}
    assert q_of("W1[:, 1]") == {(("entry", r),): W1[r, 1] for r in range(H)}
    assert as_matrix(q_of("A[0:2, 1:]"), 2, 2) == A[0:2, 1:]
    assert q_of("A[i, i]") == {(("i", i),): A[i, i] for i in range(H)}
    assert q_of("A.T[0, 2]") == {(): A[2, 0]}
    assert q_of("W1[i, j]") == {(("i", i), ("j", j)): W1[i, j] for i in range(H) for j in range(D)}


def test_elementwise_and_broadcast():
    A, B = PARAMS["A"], PARAMS["B"]
    got = q_of("2*A - A*A / 3 + x")
    assert as_matrix(got, H, H) == (2 * A - A.multiply_elementwise(A) / 3).applyfunc(lambda e: e + X)
    assert as_matrix(q_of("exp(B)**2"), D, D) == B.applyfunc(lambda e: sp.exp(e)**2)
    assert as_matrix(q_of("-B.T"), D, D) == -B.T


def test_declared_shapes_and_lead_conventions():
    col = sym_matrix("w", 3, 1)
    # Without shapes an n x 1 Matrix is a vector: w @ w.T is a dot product ...
    assert only("w @ w.T", {"w": col}) == (col.T * col)[0, 0]
    # ... declared (3, 1) it is a matrix and w @ w.T is the outer product.
    assert as_matrix(q_of("w @ w.T", {"w": col}, shapes={"w": (3, 1)}), 3, 3) == col * col.T
    s = sp.Matrix([[X]])  # verify.interpret.symbolic stores scalars as 1x1 matrices
    assert only("s**2", {"s": s}) == X**2
    assert q_of("s[0]", {"s": s}, shapes={"s": (1,)}) == {(): X}
    with pytest.raises(ShapeMismatch, match="declared shape"):
        q_of("w", {"w": col}, shapes={"w": (2, 2)})
    with pytest.raises(TypeError, match="sympy.Rational"):
        q_of("w", {"w": 0.5})


def test_quantity_shape_summary():
    q = parse_quantity("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    summary = quantity_shape(q, {"W1": (4, 2), "b1": (4,), "W2": (1, 4)})
    assert summary.index_ranges == (("i", 4),) and summary.shape == () and summary.n_entries == 4
    summary = quantity_shape(parse_quantity("W1 @ W1.T"), {"W1": (4, 2)})
    assert summary.shape == (4, 4) and summary.n_entries == 16


# --- errors: each one names the column, shows a caret, says what to do ---------------------------
def caret_column(message: str) -> int:
    return message.splitlines()[-1].index("^") - 4 + 1


@pytest.mark.parametrize("text, exc, column, fragment", [
    ("sum(W1[i,:)**2", SpecError, 11, "expected ',' or ']' to close the '[' opened at column 7"),
    ("", SpecError, 1, "empty quantity"),
    ("   ", SpecError, 1, "empty quantity"),
    ("x +", SpecError, 4, "expected an expression"),
    ("(x + y", SpecError, 7, "Add the missing ')'"),
    ("x + y)", SpecError, 6, "unmatched ')'"),
    ("2x", SpecError, 2, "write products explicitly"),
    ("x^2", SpecError, 2, "Use '**' for powers"),
    ("x = y", SpecError, 3, "not an equation"),
    ("W1[-1]", SpecError, 4, "0-based"),
    ("W1[1.5]", SpecError, 4, "not an integer"),
    ("W1[a]", SpecError, 4, "cannot be used as an index"),
    ("W1[]", SpecError, 4, "expected an index"),
    ("W1[::2]", SpecError, 5, "steps are not supported"),
    ("(W1).X", SpecError, 6, "'T' after '.'"),  # W1.X alone is a dotted (PyTorch) name
    ("sum", SpecError, 1, "Call it with parentheses"),
    ("sum()", SpecError, 5, "exactly one argument"),
    ("norm(x, y)", SpecError, 1, "exactly one argument"),
    ("u[i]*i", SpecError, 6, "index variable at column 3"),
    ("1e", SpecError, 1, "malformed number"),
    ("x θ", SpecError, 3, "unexpected 'θ'"),
    ("x\x00", SpecError, 2, "unexpected character"),
    ("1" * 41, SpecError, 1, "at most 40 characters"),
    ("1e400", SpecError, 1, "out of range"),
    ("x/0", SpecError, 1, "division by zero"),
    ("log(x - x)", SpecError, 1, "infinite or undefined"),
    ("(x*0)**-1", SpecError, 1, "infinite or undefined"),
    ("2**2**2**2**2**2", SpecError, 4, "too large a number"),
    ("W3 + 1", UnknownName, 1, "Closest: W2, W1"),
    ("relu(x)", UnknownName, 1, "Known: abs"),
    ("summ(x)", UnknownName, 1, "Closest: sum"),
    ("x + i", UnknownName, 5, "index variables only inside"),
    ("W1 @ W1", ShapeMismatch, 4, "cannot multiply shape (3, 2) by shape (3, 2)"),
    ("W1 + W2", ShapeMismatch, 4, "shapes (3, 2) and (2, 3)"),
    ("x @ u", ShapeMismatch, 1, "use '*' for scalars"),
    ("b1[3]", ShapeMismatch, 4, "0-based: use 0 .. 2"),
    ("W1[0, 2]", ShapeMismatch, 7, "out of range for dimension 1"),
    ("x[0]", ShapeMismatch, 1, "cannot be indexed"),
    ("b1[0, 0]", ShapeMismatch, 1, "too many indices"),
    ("W1[0:4]", ShapeMismatch, 4, "slices need 0 <= lo < hi <= 3"),
    ("W1[2:1]", ShapeMismatch, 4, "empty or out of range"),
    ("trace(W1)", ShapeMismatch, 1, "square matrix"),
    ("x**u", ShapeMismatch, 4, "Exponents must be scalars"),
    ("W1[i, 0] + c[i]", ShapeMismatch, 14, "at its first use, column 4"),
])
def test_bad_input_messages(text, exc, column, fragment):
    with pytest.raises(exc) as info:
        q_of(text)
    message = str(info.value)
    assert isinstance(info.value, BadInput)
    assert f"column {column}" in message and fragment in message, message
    assert info.value.column == column
    assert caret_column(message) == column, message


def test_caret_window_on_long_text():
    text = "x + " * 40 + "y +"
    with pytest.raises(SpecError) as info:
        parse_quantity(text)
    message = str(info.value)
    assert f"column {len(text) + 1}" in message
    text_line, caret_line = message.splitlines()[-2:]
    assert len(text_line) < 90 and text_line.lstrip().startswith("...")
    assert caret_line.index("^") == len(text_line)  # just past the shown end


def test_limits_give_clean_errors():
    with pytest.raises(SpecError, match="too long"):
        parse_quantity("x+" * MAX_LENGTH)
    with pytest.raises(SpecError, match=f"more than {MAX_NESTING} levels"):
        parse_quantity("(" * 500 + "x" + ")" * 500)
    with pytest.raises(SpecError, match=f"more than {MAX_NESTING} levels"):
        parse_quantity("-" * 1500 + "x")
    with pytest.raises(SpecError, match=f"more than {MAX_DEPTH} levels"):
        parse_quantity("+".join(["x"] * 900))
    with pytest.raises(SpecError, match=f"more than {MAX_DEPTH} levels"):
        parse_quantity("W" + ".T" * 900)
    with pytest.raises(SpecError, match="scalar entries"):
        big = sym_matrix("Z", 60, 60)
        q_of("Z[i, j] * Z[k, l]", {"Z": big})
    # At the limits themselves everything still evaluates (no RecursionError).
    assert only("+".join(["x"] * (MAX_DEPTH - 1))) == (MAX_DEPTH - 1) * X
    assert only("(" * (MAX_NESTING - 2) + "-x" + ")" * (MAX_NESTING - 2)) == -X
    assert only("**".join(["x"] * (MAX_NESTING - 1))) is not None


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')", "().__class__.__bases__", "exec('1')",
    "eval('x')", "lambda: 0", "x if y else k", "open('/etc/passwd')", "x; y", "[x for x in y]",
    "W1.__class__", "globals()", "sympify('x')",
])
def test_python_code_is_rejected(text):
    with pytest.raises(BadInput, match="column"):
        q_of(text)


def test_source_never_evaluates_text():
    """The module must not contain the evaluators (as code, comments or strings)."""
    source = Path(quantity_module.__file__).read_text()
    assert not re.search(r"sympify|parse_expr|literal_eval", source)
    # ``ast`` is a field name here (Quantity.ast), never Python's ast module.
    assert not re.search(r"^\s*(import|from)\s+(ast|builtins|importlib)\b", source, re.M)
    names = {tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.NAME}
    forbidden = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "getattr",
                 "S", "lambdify", "subprocess", "os"}
    assert not names & forbidden, names & forbidden


# --- Hypothesis: a grammar with an independent SymPy oracle -------------------------------------
SHAPES = [(), (H,), (D,), (H, D), (D, H), (H, H), (D, D)]
LEAVES = {(): ["x", "y", "k"], (H,): ["u", "v", "b1"], (D,): ["c"], (H, D): ["W1"],
          (D, H): ["W2"], (H, H): ["A"], (D, D): ["B"]}
LITERALS = ["0", "1", "2", "3", "0.5", ".25", "1e-3", "2.5e1", "7."]
INDEX_OF_SIZE = {H: "i", D: "j"}


def o_elementwise(a, b, sa, sb, fn):
    if not sa and not sb:
        return fn(a, b)
    if not sa:
        return b.applyfunc(lambda e: fn(a, e))
    if not sb:
        return a.applyfunc(lambda e: fn(e, b))
    return sp.Matrix(a.rows, a.cols, lambda r, c: fn(a[r, c], b[r, c]))


def o_map(a, sa, fn):
    return fn(a) if not sa else a.applyfunc(fn)


def spaced(draw, *parts: str) -> str:
    return "".join(p + draw(st.sampled_from(["", "", " "])) for p in parts).strip()


@st.composite
def typed(draw, shape, depth: int):
    """(text, oracle) with ``oracle(env) -> sympy value`` of the given shape (vectors as n x 1)."""
    kinds = ["leaf"]
    if depth > 0:
        kinds += ["binop", "neg", "pow", "func", "paren", "special", "special"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda s: draw(typed(s, depth - 1))  # noqa: E731
    if kind == "leaf":
        if not shape and draw(st.booleans()):
            lit = draw(st.sampled_from(LITERALS))
            return lit, lambda env: parse_quantity(lit).ast.value
        name = draw(st.sampled_from(LEAVES[shape]))
        return name, lambda env: PARAMS[name]
    if kind == "binop":
        op = draw(st.sampled_from("+-*"))
        sl, sr = draw(st.sampled_from([(shape, shape), (shape, ()), ((), shape)]))
        (ta, fa), (tb, fb) = sub(sl), sub(sr)
        fn = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}[op]
        return (spaced(draw, "(", ta, ")", op, "(", tb, ")"),
                lambda env: o_elementwise(fa(env), fb(env), sl, sr, fn))
    if kind == "neg":
        ta, fa = sub(shape)
        return spaced(draw, "-(", ta, ")"), lambda env: -fa(env)
    if kind == "pow":
        e = draw(st.sampled_from(["2", "3", "0.5", "1"]))
        ta, fa = sub(shape)
        ev = parse_quantity(e).ast.value
        return spaced(draw, "(", ta, ")**", e), lambda env: o_map(fa(env), shape, lambda t: t**ev)
    if kind == "func":
        name = draw(st.sampled_from(["exp", "tanh", "abs", "sqrt", "log2p", "div"]))
        ta, fa = sub(shape)
        if name == "log2p":  # log of something that cannot be 0
            return (spaced(draw, "log(2 + exp(", ta, "))"),
                    lambda env: o_map(fa(env), shape, lambda t: sp.log(2 + sp.exp(t))))
        if name == "div":
            return (spaced(draw, "(", ta, ")/", "4"),
                    lambda env: o_map(fa(env), shape, lambda t: t / 4))
        fn = {"exp": sp.exp, "tanh": sp.tanh, "abs": sp.Abs, "sqrt": sp.sqrt}[name]
        return spaced(draw, name, "(", ta, ")"), lambda env: o_map(fa(env), shape, fn)
    if kind == "paren":
        ta, fa = sub(shape)
        return f"({ta})", fa
    return draw(special(shape, depth))


@st.composite
def special(draw, shape, depth: int):
    """Shape-specific constructions: reductions, products, indexing, slicing, transposes."""
    sub = lambda s: draw(typed(s, depth - 1))  # noqa: E731
    if shape == ():
        which = draw(st.sampled_from(["sum", "norm", "trace", "dot", "index1", "index2"]))
        if which in ("sum", "norm"):
            s = draw(st.sampled_from(SHAPES))
            ta, fa = sub(s)
            if which == "sum":
                return f"sum({ta})", lambda env: fa(env) if not s else sum(fa(env))
            return (f"norm({ta})", lambda env: sp.sqrt(fa(env)**2) if not s
                    else sp.sqrt(sp.Add(*(e**2 for e in fa(env)))))
        if which == "trace":
            s = draw(st.sampled_from([(H, H), (D, D)]))
            ta, fa = sub(s)
            return f"trace({ta})", lambda env: fa(env).trace()
        if which == "dot":
            n = draw(st.sampled_from([H, D]))
            (ta, fa), (tb, fb) = sub((n,)), sub((n,))
            return f"({ta}) @ ({tb})", lambda env: (fa(env).T * fb(env))[0, 0]
        if which == "index1":
            n = draw(st.sampled_from([H, D]))
            ta, fa = sub((n,))
            letter = INDEX_OF_SIZE[n]
            return f"({ta})[{letter}]", lambda env: fa(env)[env[letter]]
        m, n = draw(st.sampled_from([(H, D), (D, H), (H, H), (D, D)]))
        ta, fa = sub((m, n))
        first = draw(st.sampled_from([INDEX_OF_SIZE[m], "0", str(m - 1)]))
        second = draw(st.sampled_from([INDEX_OF_SIZE[n], "1"]))
        pick = lambda env, t: env[t] if t.isalpha() else int(t)  # noqa: E731
        return (f"({ta})[{first}, {second}]",
                lambda env: fa(env)[pick(env, first), pick(env, second)])
    if len(shape) == 1:
        (n,) = shape
        which = draw(st.sampled_from(["matvec", "vecmat", "row", "col", "slice", "T"]))
        if which in ("matvec", "vecmat"):
            k = draw(st.sampled_from([H, D]))
            if which == "matvec":
                (ta, fa), (tb, fb) = sub((n, k)), sub((k,))
                return f"({ta}) @ ({tb})", lambda env: fa(env) * fb(env)
            (ta, fa), (tb, fb) = sub((k,)), sub((k, n))
            return f"({ta}) @ ({tb})", lambda env: (fa(env).T * fb(env)).T
        if which in ("row", "col"):
            other = draw(st.sampled_from([H, D]))
            letter = INDEX_OF_SIZE[other]
            if which == "row":
                ta, fa = sub((other, n))
                return f"({ta})[{letter}]", lambda env: fa(env)[env[letter], :].T
            ta, fa = sub((n, other))
            return f"({ta})[:, {letter}]", lambda env: fa(env)[:, env[letter]]
        if which == "slice" and n == D:
            ta, fa = sub((H,))
            return f"({ta})[1:]", lambda env: fa(env)[1:, :]
        ta, fa = sub(shape)
        return f"({ta}).T", fa
    m, n = shape
    which = draw(st.sampled_from(["matmul", "T", "slice"]))
    if which == "matmul":
        k = draw(st.sampled_from([H, D]))
        (ta, fa), (tb, fb) = sub((m, k)), sub((k, n))
        return f"({ta}) @ ({tb})", lambda env: fa(env) * fb(env)
    if which == "slice" and (m, n) == (D, D):
        ta, fa = sub((H, H))
        return f"({ta})[0:2, 1:]", lambda env: fa(env)[0:2, 1:]
    ta, fa = sub((n, m))
    return f"({ta}).T", lambda env: fa(env).T


@st.composite
def valid_quantities(draw):
    shape = draw(st.sampled_from(SHAPES))
    return draw(typed(shape, draw(st.integers(0, 3))))


def same(a: sp.Expr, b: sp.Expr) -> bool:
    return a == b or sp.expand(a - b) == 0


def check_against_oracle(text: str, oracle) -> None:
    q = parse_quantity(text)
    got = instantiate(q, PARAMS)
    assert got, text
    for key, value in got.items():
        env = {name: v for name, v in key if name in q.free_indices}
        want = oracle(env)
        rest = [v for name, v in key if name not in q.free_indices]
        if len(rest) == 2:
            want = want[rest[0], rest[1]]
        elif len(rest) == 1:
            want = want[rest[0]]
        assert same(value, want), (text, key, value, want)
    assert parse_quantity(unparse(q.ast)).ast == q.ast


@settings(max_examples=2500, **FUZZ)
@given(valid_quantities())
def test_fuzz_valid_grammar_matches_sympy_oracle(pair):
    text, oracle = pair
    check_against_oracle(text, oracle)


def assert_clean(text: str, params=PARAMS) -> None:
    """Either the text is a quantity, or it raises a BadInput naming the column."""
    try:
        q = parse_quantity(text)
        instantiate(q, params)
    except BadInput as exc:
        message = str(exc)
        assert "column" in message, message
        assert 1 <= exc.column <= len(text) + 1, (text, message)
        if len(text) <= 72 and not isinstance(exc, UnknownName) or "It appears" in message:
            assert caret_column(message) == exc.column, message


MUTATION_CHARS = list("xyzkuvWABc1i0j2.5e:,[]()+-*/@ T_") + ["**", "sum(", "norm(", ".T", "\t", "é"]


@st.composite
def mutated(draw):
    text, _ = draw(valid_quantities())
    for _ in range(draw(st.integers(1, 3))):
        n = len(text)
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate", "swap"]))
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, min(n, a + 4)))
        if op == "delete":
            text = text[:a] + text[b:]
        elif op == "insert":
            text = text[:a] + draw(st.sampled_from(MUTATION_CHARS)) + text[a:]
        elif op == "replace":
            text = text[:a] + draw(st.sampled_from(MUTATION_CHARS)) + text[b:]
        elif op == "truncate":
            text = text[:a]
        elif op == "duplicate":
            text = text[:b] + text[a:b] + text[b:]
        elif n >= 2:
            a = min(a, n - 2)
            text = text[:a] + text[a + 1] + text[a] + text[a + 2:]
    return text


@settings(max_examples=3500, **FUZZ)
@given(mutated())
def test_fuzz_mutated_quantities_fail_cleanly(text):
    assert_clean(text)


# Tokens of the language, so random sequences reach the parser's and the shape checker's errors;
# st.text supplies the foreign characters.
RANDOM_TOKENS = ["x", "y", "k", "u", "v", "b1", "c", "W1", "W2", "A", "B", "i", "j", "z", "0",
                 "1", "2", "0.5", "1e3", "+", "-", "*", "/", "**", "@", "(", ")", "[", "]", ",",
                 ":", ".T", ".", " ", "sum(", "norm(", "trace(", "exp(", "log(", "sqrt(", "e"]


@settings(max_examples=3500, **FUZZ)
@given(st.one_of(
    st.lists(st.sampled_from(RANDOM_TOKENS), max_size=25).map("".join),
    st.text(max_size=40),
))
def test_fuzz_random_text_fails_cleanly(text):
    assert_clean(text)


@functools.lru_cache(maxsize=None)
def param_of_shape(name: str, shape: tuple[int, ...]):
    if shape == ():
        return sp.Symbol(name, real=True)
    return sym_matrix(name, shape[0], shape[1] if len(shape) == 2 else 1)


@settings(max_examples=1000, **FUZZ)
@given(valid_quantities(), st.fixed_dictionaries(
    {name: st.sampled_from([(), (1,), (2,), (3,), (2, 3), (3, 2), (3, 3), (1, 2)])
     for name in PARAMS}))
def test_fuzz_valid_text_on_scrambled_shapes_fails_cleanly(pair, shapes):
    """Valid text on parameters of other shapes: mostly ShapeMismatch, never a crash."""
    params = {name: param_of_shape(name, shape) for name, shape in shapes.items()}
    assert_clean(pair[0], params)


# --------------------------------------------------------------- GD increments: G_<param> and eta
def test_du_3gd_increment_language_names_gradients_and_step():
    """``as_increment`` evaluates the same grammar with G_<param> bound to the gradients given and
    eta to the step; the result is labelled like the quantity (every entry)."""
    from verify.testing.checking import as_increment, as_quantity
    from verify.model import mlp
    net = mlp((2, 3, 2), "relu")
    P = {"W1": sym_matrix("W", 3, 2), "W2": sym_matrix("V", 2, 3)}
    G = {"W1": sym_matrix("g", 3, 2), "W2": sym_matrix("h", 2, 3)}
    eta = sp.Symbol("eta")
    inc = as_increment("eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)", net).build(P, G, eta)
    expected = eta**2 * (G["W1"] * G["W1"].T - G["W2"].T * G["W2"])
    assert set(inc) == {f"[row={r},col={c}]" for r in range(3) for c in range(3)}
    assert all(sp.expand(inc[f"[row={r},col={c}]"] - expected[r, c]) == 0 for r in range(3) for c in range(3))
    per = as_increment("eta**2*(sum(G_W1[i,:]**2) - sum(G_W2[:,i]**2))", net).build(P, G, eta)
    assert sp.expand(per["[i=1]"] - eta**2 * (sum(G["W1"][1, j] ** 2 for j in range(2))
                                             - sum(G["W2"][j, 1] ** 2 for j in range(2)))) == 0
    assert set(per) == set(as_quantity("sum(W1[i,:]**2) - sum(W2[:,i]**2)", net).build(P))
    # the quantity itself is a function of the parameters only: gradients are not names there
    with pytest.raises(UnknownName, match="G_W1"):
        as_quantity("sum(G_W1**2)", net).build(P)


@pytest.mark.parametrize("text, exc, fragment", [
    ("G_W3 * eta", UnknownName, "Closest: G_W"),
    ("G_W1 @ G_W1", ShapeMismatch, "increment:"),
    ("eta[0]", ShapeMismatch, "cannot be indexed"),
    ("__import__('os').system('x')", SpecError, "increment: unexpected"),
    ("exec(G_W1)", UnknownName, "Unknown function 'exec'"),
])
def test_increment_language_bad_input(text, exc, fragment):
    from verify.testing.checking import as_increment
    from verify.model import mlp
    with pytest.raises(exc, match=re.escape(fragment)):
        as_increment(text, mlp((2, 3, 2), "relu"))
