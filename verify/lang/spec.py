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

from verify.lang.formula import custom
from verify.model.activations import ACTIVATIONS, Activation, get_activation, homogeneous, leaky_relu, relu_power
from verify.errors import SpecError, VerifyError, echo
from verify.model import Model, Param
from verify.model.layers import SPEC_RULES
from verify.model.layers._values import spec_int

__all__ = ["load_spec", "parse_spec", "MAX_SPEC_CHARS", "MAX_LAYERS", "MAX_NESTING"]

#: Caps on a spec's size (issue 15): text, layer tables per list, residual nesting. Integer keys have
#: their own caps (``verify.model.layers._values.CAPS``).
MAX_SPEC_CHARS = 1_000_000
MAX_LAYERS = 512
MAX_NESTING = 16



def load_spec(path: str | Path) -> Model:
    """Read and validate a spec file; any problem raises ``SpecError`` naming file:line."""
    path = Path(path)
    # a path with a line break or an escape sequence is shown escaped, so the error stays one line
    shown = str(path) if str(path).isprintable() and len(str(path)) <= 200 else echo(str(path), 200)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{shown}: cannot read the spec ({exc.strerror}); check the path.") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{shown}: byte {exc.start} is not UTF-8; save the spec as UTF-8 text (TOML requires it).") from None
    return parse_spec(text, shown)


def _layer_lines(text: str) -> list[int]:
    # [[layer]] and nested [[layer.block]] headers, in document order (= the parse order below).
    return [n for n, line in enumerate(text.splitlines(), 1)
            if re.match(r"\s*\[\[\s*layer(\s*\.\s*block)*\s*\]\]", line)]


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
    # A key the named activation does not take is refused, never silently ignored.
    takes = {"leaky_relu": {"alpha"}, "relu_power": {"k"}, "homogeneous": {"k"}}.get(name, set())
    unused = sorted(({"alpha", "k"} & set(d)) - takes)
    if unused:
        raise SpecError(f"{where}: activation {echo(name)} takes no {', '.join(unused)}; remove it"
                        + (" or use leaky_relu." if "alpha" in unused else " or use relu_power."))
    try:
        if name == "leaky_relu" and "alpha" in d:
            return leaky_relu(d["alpha"])
        if name == "relu_power":
            return relu_power(spec_int(d, "k", where))
        if name == "homogeneous":
            return homogeneous(spec_int(d, "k", where, default=1))
        return get_activation(name)
    except VerifyError as exc:
        raise SpecError(f"{where}: {exc}") from None



def _name(doc, source: str) -> str:
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{source}: name = {str(name)[:60]!r}; give a text label such as name = \"my net\".")
    if len(name) > 200 or any(not ch.isprintable() for ch in name):
        raise SpecError(f"{source}: name = {echo(name)} has control characters or more than 200 characters; "
                        "give a short printable label.")
    return name


def _loss(doc, source) -> str | None:
    loss = doc.get("loss")
    if loss is not None and not isinstance(loss, str):
        raise SpecError(f"{source}: loss = {loss!r}; write e.g. loss = \"cross_entropy\", or omit it for every loss.")
    return loss


class _State:
    """Parse state: declared parameters, the running parameter-layer number n, header line numbers."""

    def __init__(self, source: str, lines):
        self.source, self.lines, self.n = source, lines, 0
        self.params: list[Param] = []

    def where(self, label: str) -> str:
        return f"{self.source}:{next(self.lines, '?')} (layer {label})"

    def next_n(self) -> int:
        self.n += 1
        return self.n


class _LayerContext:
    """What one layer table's parser may use (``SpecContext`` of ``verify.model.layers``)."""

    def __init__(self, st: _State, where: str, prefix: str):
        self._st, self.where, self._prefix = st, where, prefix
        self.params = st.params

    def next_n(self) -> int:
        return self._st.next_n()

    def block(self, docs, dim: int):
        return _parse_layers(docs, dim, self._st, self._prefix)

    def activation(self, table) -> Activation:
        return _activation(table, self.where)


def _parse_layers(docs, dim, st: _State, prefix: str):
    """Layers of one list of tables (the top level, or a residual block); returns (layers, width)."""
    if prefix.count(".") >= MAX_NESTING:
        raise SpecError(f"{st.where(prefix.rstrip('.'))}: residual blocks nested more than {MAX_NESTING} deep; "
                        "flatten the architecture.")
    if len(docs) > MAX_LAYERS:
        raise SpecError(f"{st.source}: {len(docs)} layer tables in one list, above the cap {MAX_LAYERS}.")
    layers = []
    for idx, d in enumerate(docs):
        where = st.where(f"{prefix}{idx + 1}")
        if not isinstance(d, dict):
            raise SpecError(f"{where}: a layer must be a table; write it as [[layer]] with a type key.")
        kind = d.get("type")
        if not isinstance(kind, str) or kind not in SPEC_RULES:
            from verify.errors import closest
            near = closest(str(kind)[:60], SPEC_RULES)
            raise SpecError(f"{where}: unknown layer type {echo(str(kind))}"
                            + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" Allowed: {', '.join(SPEC_RULES)}.")
        rule = SPEC_RULES[kind]
        extra = set(d) - rule.keys - {"type"}
        if extra:
            raise SpecError(f"{where}: unknown key(s) {sorted(extra)} for a {kind} layer; "
                            f"allowed: {sorted(rule.keys)}.")
        try:
            layer, dim = rule.parse(d, dim, _LayerContext(st, where, f"{prefix}{idx + 1}."))
        except SpecError:
            raise
        except VerifyError as exc:
            raise SpecError(f"{where}: {exc}") from None
        layers.append(layer)
    return layers, dim


def parse_spec(text: str, source: str = "<spec>") -> Model:
    """Build a ``Model`` from TOML text (see module docstring)."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"{source}: the spec has {len(text):,} characters, above the cap {MAX_SPEC_CHARS:,}; "
                        "a spec describes layers, not data.")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: malformed TOML: {str(exc)[:200]}. Fix the syntax at that line.") from None
    except RecursionError:
        raise SpecError(f"{source}: the TOML is nested too deeply to read; flatten its arrays and tables.") from None
    unknown = set(doc) - {"name", "input", "layer", "loss"}
    if unknown:
        raise SpecError(f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: name, input, loss, [[layer]].")
    dim = spec_int(doc, "input", f"{source}:1")
    layers_doc = doc.get("layer")
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError(f"{source}: no [[layer]] tables; add at least one dense layer.")
    state = _State(source, iter(_layer_lines(text)))
    layers, dim = _parse_layers(layers_doc, dim, state, "")
    name = _name(doc, source)
    try:
        return Model(name, spec_int(doc, "input", source), tuple(state.params), tuple(layers), _loss(doc, source))
    except VerifyError as exc:
        raise SpecError(f"{source}: {exc}") from None
