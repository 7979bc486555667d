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
    type = "conv2d"       # shared weights v{n}; input = channels x height x width, channel-major
    height = 4            # of the input image (channels = width of the previous layer / (height*width))
    width = 4
    kernel = 2            # or [kh, kw]; stride = 1, padding = 0 (zeros), out_channels = 1 by default

    [[layer]]
    type = "pool"         # kind = "avg" | "max"; windows of `size` (stride = size) along the vector,
    kind = "max"          # or 2-D with height/width (and size = n or [ph, pw]), or explicit
    size = 2              # windows = [[0, 1], [2, 3]]

    [[layer]]
    type = "residual"     # x + block(x); the block's layers follow as [[layer.block]] tables
    [[layer.block]]
    type = "dense"
    out = 3               # the block must end at the width it started with

    [[layer]]
    type = "normalize"    # kind = "l2" (a/||a||) | "layer" (centre, then scale to unit std; no epsilon)
    kind = "l2"
    # (a dense layer with weight_norm = true normalises each row of W{n}: W[i,:]/||W[i,:]||)

    [[layer]]
    type = "attention"    # tokens x token-width input; Wq{n}, Wk{n} of shape (width, key_dim),
    tokens = 2            # softmax(X Wq Wk^T X^T) X (Wv{n} with value_dim = m)

    [[layer]]
    type = "diagonal"     # w = u1 o ... o uL, output <w, x>
    depth = 2             # form = "difference": w = u^L - v^L entrywise (u o u - v o v), params u, v

Errors name the file and line of the offending ``[[layer]]`` and say what to do.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from verify.model.activations import ACTIVATIONS, Activation, custom, get_activation, homogeneous, leaky_relu, relu_power
from verify.errors import SpecError, VerifyError
from verify.model.core import (Act, Attention, DiagonalLinear, Dense, Model, NormalizedDense, Normalize, Param, Pool, Residual,
                    conv1d_pattern, conv2d_pattern, pool2d_windows)

__all__ = ["load_spec", "parse_spec"]

LAYER_KEYS = {
    "dense": {"out", "bias", "weight_norm"},
    "activation": {"name", "alpha", "k", "formula"},
    "conv1d": {"kernel", "stride", "padding"},
    "conv2d": {"height", "width", "kernel", "stride", "padding", "out_channels"},
    "shared": {"pattern"},
    "pool": {"kind", "size", "stride", "height", "width", "windows"},
    "residual": {"block"},
    "normalize": {"kind"},
    "attention": {"tokens", "key_dim", "value_dim"},
    "diagonal": {"depth", "form"},
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
    # [[layer]] and nested [[layer.block]] headers, in document order (= the parse order below).
    return [n for n, line in enumerate(text.splitlines(), 1)
            if re.match(r"\s*\[\[\s*layer(\s*\.\s*block)*\s*\]\]", line)]


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
        # A user formula in z (parsed by verify.lang.formula, never evaluated); name is only a label.
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


class _State:
    """Parse state: declared parameters, the running parameter-layer number n, header line numbers."""

    def __init__(self, source: str, lines):
        self.source, self.lines, self.params, self.n = source, lines, [], 0

    def where(self, label: str) -> str:
        return f"{self.source}:{next(self.lines, '?')} (layer {label})"

    def next_n(self) -> int:
        self.n += 1
        return self.n


def _kernel(d, key, where, default=None):
    """An int or a [rows, cols] pair of ints >= 1."""
    v = d.get(key, default)
    if isinstance(v, list) and len(v) == 2 and all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in v):
        return tuple(v)
    return _int({key: v}, key, where)


def _image(d, dim, where, kind):
    """(channels, height, width) of the flat input of a 2-D layer (channel-major)."""
    h, w = _int(d, "height", where), _int(d, "width", where)
    if dim % (h * w):
        raise SpecError(f"{where}: the input width {dim} is not channels x {h} x {w}; give the {kind} the "
                        f"height and width of the image the previous layer produces.")
    return dim // (h * w), h, w


def _parse_layers(docs, dim, st: _State, prefix: str):
    """Layers of one list of tables (the top level, or a residual block); returns (layers, width)."""
    layers = []
    for idx, d in enumerate(docs):
        where = st.where(f"{prefix}{idx + 1}")
        if not isinstance(d, dict):
            raise SpecError(f"{where}: a layer must be a table; write it as [[layer]] with a type key.")
        kind = d.get("type")
        if kind not in LAYER_KEYS:
            from verify.errors import closest
            near = closest(str(kind), LAYER_KEYS)
            raise SpecError(f"{where}: unknown layer type {kind!r}"
                            + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" Allowed: {', '.join(LAYER_KEYS)}.")
        extra = set(d) - LAYER_KEYS[kind] - {"type"}
        if extra:
            raise SpecError(f"{where}: unknown key(s) {sorted(extra)} for a {kind} layer; "
                            f"allowed: {sorted(LAYER_KEYS[kind])}.")
        try:
            layer, dim = _parse_layer(kind, d, dim, st, where, f"{prefix}{idx + 1}.")
        except SpecError:
            raise
        except VerifyError as exc:
            raise SpecError(f"{where}: {exc}") from None
        layers.append(layer)
    return layers, dim


def _choice(d, key, allowed, where, default=None):
    v = d.get(key, default)
    if v not in allowed:
        raise SpecError(f"{where}: {key} = {v!r}; use one of {', '.join(map(repr, allowed))}.")
    return v


def _parse_layer(kind, d, dim, st: _State, where, prefix):
    params = st.params
    if kind == "activation":
        return Act(_activation(d, where)), dim
    if kind == "diagonal":
        depth = _int(d, "depth", where, default=2)
        form = _choice(d, "form", ("product", "difference"), where, "product")
        if form == "difference":  # w = u^L - v^L entrywise (u o u - v o v for depth 2)
            params += [Param("u", (dim,)), Param("v", (dim,))]
            return DiagonalLinear(("u",) * depth, ("v",) * depth), 1
        factors = tuple(f"u{k}" for k in range(1, depth + 1))
        params += [Param(f, (dim,)) for f in factors]
        return DiagonalLinear(factors), 1
    if kind == "residual":
        block = d.get("block")
        if not isinstance(block, list) or not block:
            raise SpecError(f"{where}: a residual layer needs its block as [[layer.block]] tables "
                            "right after it (x + block(x)).")
        inner, out = _parse_layers(block, dim, st, prefix)
        if out != dim:
            raise SpecError(f"{where}: the residual block maps width {dim} to {out}; x + block(x) needs equal "
                            f"widths, so make the block's last layer output {dim}.")
        return Residual(tuple(inner)), dim
    if kind == "normalize":
        norm = _choice(d, "kind", ("l2", "layer"), where, "l2")
        if dim < 2:
            raise SpecError(f"{where}: normalising width {dim} gives a sign or 0; normalise a layer of width >= 2.")
        return Normalize(norm), dim
    if kind == "pool":
        pool = _choice(d, "kind", ("avg", "max"), where)
        if "windows" in d:
            if set(d) & {"size", "stride", "height", "width"}:
                raise SpecError(f"{where}: give either windows or size (with stride, height, width), not both.")
            windows = d["windows"]
            if (not isinstance(windows, list) or not windows or
                    not all(isinstance(w, list) and w and all(isinstance(e, int) and not isinstance(e, bool)
                                                              for e in w) for w in windows)):
                raise SpecError(f"{where}: windows must be a list of index lists, e.g. [[0, 1], [2, 3]].")
            windows = tuple(tuple(w) for w in windows)
        elif "height" in d or "width" in d:
            c, h, w = _image(d, dim, where, "pool")
            size = _kernel(d, "size", where)
            windows = pool2d_windows(h, w, size, d.get("stride") and _int(d, "stride", where), channels=c)
        else:
            size = _int(d, "size", where)
            stride = _int(d, "stride", where, size)
            if size > dim:
                raise SpecError(f"{where}: pool size {size} exceeds the width {dim}; lower it.")
            windows = tuple(tuple(range(o, o + size)) for o in range(0, dim - size + 1, stride))
        bad = [i for w in windows for i in w if not 0 <= i < dim]
        if bad:
            raise SpecError(f"{where}: window index {bad[0]} is out of range 0..{dim - 1} (the width here).")
        return Pool(pool, windows), len(windows)
    if kind == "attention":
        tokens = _int(d, "tokens", where)
        if dim % tokens:
            raise SpecError(f"{where}: the width {dim} is not a multiple of tokens = {tokens}; "
                            "the input must be tokens x token-width, token-major.")
        width = dim // tokens
        n = st.next_n()
        k = _int(d, "key_dim", where, width)
        params += [Param(f"Wq{n}", (width, k)), Param(f"Wk{n}", (width, k))]
        value = None
        if "value_dim" in d:
            params.append(Param(f"Wv{n}", (width, _int(d, "value_dim", where))))
            value = f"Wv{n}"
        out = tokens * (d["value_dim"] if value else width)
        return Attention(f"Wq{n}", f"Wk{n}", tokens, value), out
    n = st.next_n()
    if kind == "dense":
        out = _int(d, "out", where)
        params.append(Param(f"W{n}", (out, dim)))
        bias, wn = d.get("bias", False), d.get("weight_norm", False)
        for key, val in (("bias", bias), ("weight_norm", wn)):
            if not isinstance(val, bool):
                raise SpecError(f"{where}: {key} = {val!r}; use true or false.")
        if wn and dim < 2:
            raise SpecError(f"{where}: weight_norm with input width 1 normalises each row to its sign; "
                            "drop weight_norm or widen the input.")
        if bias:
            params.append(Param(f"b{n}", (out,)))
        cls = NormalizedDense if wn else Dense
        return cls(f"W{n}", f"b{n}" if bias else None), out
    if kind == "conv1d":
        pattern = conv1d_pattern(dim, _int(d, "kernel", where), _int(d, "stride", where, 1),
                                 _int(d, "padding", where, 0, low=0))
    elif kind == "conv2d":
        c, h, w = _image(d, dim, where, "conv2d")
        pattern = conv2d_pattern(h, w, _kernel(d, "kernel", where), _int(d, "stride", where, 1),
                                 _int(d, "padding", where, 0, low=0), channels=c,
                                 out_channels=_int(d, "out_channels", where, 1))
    else:
        pattern = d.get("pattern")
        if (not isinstance(pattern, list) or not pattern or
                not all(isinstance(r, list) and r and all(isinstance(e, int) and e >= 0 for e in r)
                        for r in pattern)):
            raise SpecError(f"{where}: pattern must be a table of integers >= 0, e.g. [[1, 0], [2, 1]].")
        pattern = tuple(tuple(r) for r in pattern)
        if len({len(r) for r in pattern}) != 1 or len(pattern[0]) != dim:
            raise SpecError(f"{where}: pattern rows must all have length {dim} (the input width here).")
    n_free = max(max(r) for r in pattern)
    if n_free < 1:
        raise SpecError(f"{where}: the pattern has no free parameter; use entries >= 1.")
    params.append(Param(f"v{n}", (n_free,)))
    return Dense(f"v{n}", None, pattern), len(pattern)


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
    state = _State(source, iter(_layer_lines(text)))
    layers, dim = _parse_layers(layers_doc, dim, state, "")
    name = doc.get("name", Path(source).stem)
    try:
        return Model(str(name), _int(doc, "input", source), tuple(state.params), tuple(layers), _loss(doc, source))
    except VerifyError as exc:
        raise SpecError(f"{source}: {exc}") from None
