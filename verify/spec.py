"""TOML model specs for the CLI (``verify check SPEC.toml``).

Format (every key is checked; unknown keys are errors, so typos never pass silently)::

    name = "two-layer ReLU with bias"
    input = 3
    loss = "cross_entropy"  # optional: square | logistic | exponential | cross_entropy;
                            # omitted = an arbitrary differentiable loss (the stronger statement)

    [[layer]]
    type = "dense"        # W{n} (and b{n}) are named by the dense layer's position n = 1, 2, ...
    out = 4
    bias = true

    [[layer]]
    type = "activation"
    name = "relu"         # identity | relu | leaky_relu (alpha) | relu_power (k) | homogeneous (k)
                          # | tanh | sigmoid | softplus | gelu
    # or a formula in z (safe whitelisted parse; name is then only a label):
    # formula = "z * sigmoid(z)"

    [[layer]]
    type = "conv1d"       # shared weights v{n}: kernel, stride = 1, padding = 0
    kernel = 2

    [[layer]]
    type = "shared"       # explicit sharing pattern g: 0 = no connection, p = v{n}[p-1]
    pattern = [[1, 0, 2], [2, 1, 0]]

    [[layer]]
    type = "diagonal"     # w = u1 o ... o uL, output <w, x>
    depth = 2

Errors name the file and line of the offending ``[[layer]]`` and say what to do.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .activations import ACTIVATIONS, Activation, custom, get_activation, homogeneous, leaky_relu, relu_power
from .errors import SpecError, VerifyError
from .model import Act, DiagonalLinear, Dense, Model, Param, conv1d_pattern

__all__ = ["load_spec", "parse_spec"]

LAYER_KEYS = {
    "dense": {"out", "bias"},
    "activation": {"name", "alpha", "k", "formula"},
    "conv1d": {"kernel", "stride", "padding"},
    "shared": {"pattern"},
    "diagonal": {"depth"},
}


def load_spec(path: str | Path) -> Model:
    """Read and validate a spec file; any problem raises ``SpecError`` naming file:line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec ({exc.strerror}); check the path.") from None
    return parse_spec(text, str(path))


def _layer_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*layer\s*\]\]", line)]


def _int(d, key, where, default=None, low=1):
    v = d.get(key, default)
    if v is None:
        raise SpecError(f"{where}: missing '{key}'; add e.g. {key} = {max(low, 1)}.")
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise SpecError(f"{where}: '{key}' = {v!r}; it must be an integer >= {low}.")
    return v


def _activation(d, where) -> Activation:
    name = d.get("name")
    if "formula" in d:
        # A user formula in z (parsed by verify.formula, never evaluated); name is only a label.
        if name is not None and not isinstance(name, str):
            raise SpecError(f"{where}: name = {name!r}; give a text label such as name = \"swish\".")
        try:
            return custom(d["formula"], name)
        except VerifyError as exc:
            raise SpecError(f"{where}: {exc}") from None
    if not isinstance(name, str):
        raise SpecError(f"{where}: activation layer needs name = \"relu\" (or one of {', '.join(ACTIVATIONS)}).")
    try:
        if name == "leaky_relu" and "alpha" in d:
            return leaky_relu(d["alpha"])
        if name == "relu_power":
            return relu_power(_int(d, "k", where))
        if name == "homogeneous":
            return homogeneous(_int(d, "k", where, default=1))
        return get_activation(name)
    except VerifyError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _loss(doc, source) -> str | None:
    loss = doc.get("loss")
    if loss is not None and not isinstance(loss, str):
        raise SpecError(f"{source}: loss = {loss!r}; write e.g. loss = \"cross_entropy\", or omit it for every loss.")
    return loss


def parse_spec(text: str, source: str = "<spec>") -> Model:
    """Build a ``Model`` from TOML text (see module docstring)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: malformed TOML: {exc}. Fix the syntax at that line.") from None
    unknown = set(doc) - {"name", "input", "layer", "loss"}
    if unknown:
        raise SpecError(f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: name, input, loss, [[layer]].")
    dim = _int(doc, "input", f"{source}:1")
    layers_doc = doc.get("layer")
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError(f"{source}: no [[layer]] tables; add at least one dense layer.")
    lines = _layer_lines(text)
    params, layers = [], []
    n_dense = 0
    for idx, d in enumerate(layers_doc):
        where = f"{source}:{lines[idx] if idx < len(lines) else '?'} (layer {idx + 1})"
        kind = d.get("type")
        if kind not in LAYER_KEYS:
            from .errors import closest
            near = closest(str(kind), LAYER_KEYS)
            raise SpecError(f"{where}: unknown layer type {kind!r}"
                            + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" Allowed: {', '.join(LAYER_KEYS)}.")
        extra = set(d) - LAYER_KEYS[kind] - {"type"}
        if extra:
            raise SpecError(f"{where}: unknown key(s) {sorted(extra)} for a {kind} layer; "
                            f"allowed: {sorted(LAYER_KEYS[kind])}.")
        if kind == "activation":
            layers.append(Act(_activation(d, where)))
            continue
        if kind == "diagonal":
            depth = _int(d, "depth", where, default=2)
            factors = tuple(f"u{k}" for k in range(1, depth + 1))
            params += [Param(f, (dim,)) for f in factors]
            layers.append(DiagonalLinear(factors))
            dim = 1
            continue
        n_dense += 1
        if kind == "dense":
            out = _int(d, "out", where)
            params.append(Param(f"W{n_dense}", (out, dim)))
            bias = d.get("bias", False)
            if not isinstance(bias, bool):
                raise SpecError(f"{where}: bias = {bias!r}; use true or false.")
            if bias:
                params.append(Param(f"b{n_dense}", (out,)))
            layers.append(Dense(f"W{n_dense}", f"b{n_dense}" if bias else None))
            dim = out
            continue
        try:
            if kind == "conv1d":
                pattern = conv1d_pattern(dim, _int(d, "kernel", where), _int(d, "stride", where, 1),
                                         _int(d, "padding", where, 0, low=0))
            else:
                pattern = d.get("pattern")
                if (not isinstance(pattern, list) or not pattern or
                        not all(isinstance(r, list) and r and all(isinstance(e, int) and e >= 0 for e in r)
                                for r in pattern)):
                    raise SpecError(f"{where}: pattern must be a table of integers >= 0, e.g. [[1, 0], [2, 1]].")
                pattern = tuple(tuple(r) for r in pattern)
                if len({len(r) for r in pattern}) != 1 or len(pattern[0]) != dim:
                    raise SpecError(f"{where}: pattern rows must all have length {dim} (the input width here).")
        except SpecError:
            raise
        except VerifyError as exc:
            raise SpecError(f"{where}: {exc}") from None
        n_free = max(max(r) for r in pattern)
        if n_free < 1:
            raise SpecError(f"{where}: the pattern has no free parameter; use entries >= 1.")
        params.append(Param(f"v{n_dense}", (n_free,)))
        layers.append(Dense(f"v{n_dense}", None, pattern))
        dim = len(pattern)
    name = doc.get("name", Path(source).stem)
    try:
        return Model(str(name), _int(doc, "input", source), tuple(params), tuple(layers), _loss(doc, source))
    except VerifyError as exc:
        raise SpecError(f"{source}: {exc}") from None
