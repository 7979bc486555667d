"""The safe quantity language: user text such as ``sum(W1[i,:]**2) - sum(W2[:,i]**2)``.

A researcher writes a candidate conserved quantity Q(theta) as a short expression over parameter
names. This module turns that text into exact SymPy scalars, one per "for every i" assignment and
per matrix entry, without ever handing user text to Python's or SymPy's own evaluators: a small
tokenizer and a Pratt (precedence-climbing) parser produce frozen-dataclass AST nodes, and a
whitelisted interpreter walks them.

The language (indices are **0-based**):

* numbers: ``2``, ``0.5``, ``1e-3`` (exact: ``0.5`` is ``Rational(1, 2)``);
* parameter names: ``W1``, ``b1``, ``u``, ...;
* ``+ - * /`` elementwise (operands of equal shape, or one scalar), unary ``-``;
* ``**`` elementwise power with a scalar exponent (right-associative, ``-x**2 == -(x**2)``);
* ``@`` matrix product with NumPy's rules for vectors: (m,n)@(n,p), (m,n)@(n,), (n,)@(n,p),
  and (n,)@(n,) is the dot product; ``.T`` transposes a matrix (a no-op on vectors/scalars);
* indexing and slicing ``W1[i, :]``, ``W1[0, 1:3]``, ``b1[i]``; missing trailing indices mean
  ``:`` (``W1[i]`` is row i); an index is a non-negative integer, an index variable or a slice
  ``lo:hi`` with optional integer bounds (no steps, no negative indices);
* functions: ``sum`` (of all entries), ``norm`` (Euclidean / Frobenius), ``trace``, and the
  elementwise ``sqrt``, ``abs``, ``exp``, ``log``, ``tanh``.

Index variables are the single letters ``i j k l m n p q`` *inside square brackets*. Each one
free in the quantity means "for every value": its range is the size of every dimension it
indexes, and all such sizes must agree. The same letter used outside brackets (``2*k*x``) is an
ordinary parameter name. ``sum`` sums the entries of its argument, not over an index variable.

A matrix- or vector-valued quantity means "every entry".

The claimed increment of one GD step (``verify check --increment``) is written in the same
grammar; ``verify.testing.checking.as_increment`` then also binds ``G_<param>`` (the loss gradient
dL/d<param>, shaped like the parameter, e.g. ``G_W1``) and ``eta`` (the step), e.g.
``eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)``.

References:
    Du, Hu & Lee (2018), "Algorithmic Regularization in Learning Deep Homogeneous Models",
    Theorem 2.1 (the per-neuron quantity ``sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)``) and
    Theorem 2.2 (the matrix quantity ``W1 @ W1.T - W2.T @ W2``).

Where each stage lives (this module re-exports their public names):
``quantity_ast`` (limits, nodes, ``Quantity``, ``QuantityShape``, error messages),
``quantity_tokens`` (tokenizer, exact literals), ``quantity_parse`` (parser, ``parse_quantity``,
``unparse``), ``quantity_shape`` (``quantity_shape``), ``quantity_eval`` (``instantiate``).
"""

from __future__ import annotations

from verify.lang.quantity_ast import (
    FUNCTIONS, INDEX_LETTERS, MAX_DECIMAL_EXPONENT, MAX_DEPTH, MAX_ENTRIES, MAX_LENGTH, MAX_NESTING,
    MAX_NUMBER_CHARS, MAX_NUMERIC_EXPONENT, MAX_RATIONAL_BITS, BinOp, Call, Expr, Index, IndexItem, MatMul,
    Name, Neg, Node, Number, Pow, Quantity, QuantityShape, Slice, Transpose,
)
from verify.lang.quantity_eval import instantiate
from verify.lang.quantity_parse import parse_quantity, unparse
from verify.lang.quantity_shape import quantity_shape

__all__ = [
    "Number", "Name", "Index", "Slice", "BinOp", "Neg", "Pow", "MatMul", "Transpose", "Call",
    "Node", "Expr", "IndexItem", "Quantity", "QuantityShape",
    "parse_quantity", "instantiate", "quantity_shape", "unparse",
    "FUNCTIONS", "INDEX_LETTERS", "MAX_LENGTH", "MAX_NESTING", "MAX_DEPTH",
    "MAX_NUMBER_CHARS", "MAX_DECIMAL_EXPONENT", "MAX_RATIONAL_BITS", "MAX_NUMERIC_EXPONENT", "MAX_ENTRIES",
]
