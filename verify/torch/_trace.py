"""``from_module``: trace an ``nn.Module`` with torch.fx and map it onto ``verify.model.Model``.

Data layout: ``example_input`` has a leading batch dimension; one data point is one slice
``example_input[b]``, flattened row-major (channel-major for images, token-major for sequences), the
layout of ``verify.model``. Parameter names are those of ``module.named_parameters()``; how each is
stored in the Model (``Layout``):

* ``same``: the PyTorch tensor itself (Linear weights (out, in), biases, vectors);
* ``flat``: its row-major flattening, the free-parameter vector of a sharing pattern (convolution
  kernels (out, in, k1[, k2]), Linear layers applied per token);
* ``transpose``: its transpose (attention projections: ``Attention`` takes Wq of shape (d, k), and
  ``nn.Linear`` stores (k, d)).

Quantities are always written in PyTorch's layout; ``verify.torch.api`` converts.

Every op that is not mapped is named in one line (op, node, module path); the mapping is then
refused (``Mapping.model is None``) and ``check`` falls back to the numeric route. A mapped Model is
cross-checked against the module itself in float64 on random inputs before it is used.
"""

from __future__ import annotations

import copy
import math
import operator

import sympy as sp
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ._bridge import (Act, Attention, BadInput, Dense, DiagonalLinear, Model, NormalizedDense, Normalize, Param,
                      Pool, Residual)
from ._ops import (conv_pattern, exact_constant, function_activation, module_activation, pool_windows,
                   relu_squared, scale_activation, tuple_of)
from ._graph import (  # noqa: F401  (Layout, Mapping, MAP_TOL re-exported)
    _ADD, _BAD, _DIV, _KT, _LAYOUT_OPS, _MATMUL, _MUL, _POW, _SOFTMAX, _TRANSPOSE, MAP_TOL, Layout, Mapping, _Attn,
    _Chain, _layouts, _Other, _Param, _Scores, _self_check, _Unsupported, _unmapped)
from .modules import Hadamard, SharedLinear, WeightNormLinear

__all__ = ["Layout", "Mapping", "from_module", "MAP_TOL"]

class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualname):
        return isinstance(m, (SharedLinear, Hadamard, WeightNormLinear)) or super().is_leaf_module(m, qualname)


def _where(node) -> str:
    t = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return f"node {node.name!r} ({node.op} {t})"


class _Walk:
    def __init__(self, gm: torch.fx.GraphModule, named: dict[str, torch.Tensor], batch: int) -> None:
        self.gm, self.named, self.batch = gm, named, batch
        self.kinds: dict[str, str] = {}  # weight -> "same" / "transpose" for plain Dense layers
        self.seen_input = False

    def chain(self, v) -> _Chain:
        if not isinstance(v, _Chain):
            raise _Unsupported(f"an input that is not on the data path ({type(v).__name__.strip('_')})")
        return v

    def shape(self, node) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            raise _Unsupported("a result that is not a single tensor")
        s = tuple(meta.shape)
        if not s or s[0] != self.batch:
            raise _Unsupported(f"a result of shape {s} without the batch dimension {self.batch} first "
                               "(the op mixes data points)")
        return s[1:]

    def extend(self, c: _Chain, node, *layers) -> _Chain:
        return _Chain(c.layers + tuple(layers), self.shape(node))

    def linear(self, c, node, w, b, how="same"):
        out = self.shape(node)
        if len(c.shape) == 1:
            self.kinds[w] = how
            return _Chain(c.layers + (Dense(w, b),), out, (c.layers, c.shape, w) if b is None else None)
        if b is not None or how != "same":
            raise _Unsupported(f"Linear {w!r} applied per token of a {c.shape} input with a bias (the model "
                               "definition has no bias shared across tokens; use bias=False)")
        T, n, o = math.prod(c.shape[:-1]), c.shape[-1], out[-1]
        rows = tuple(tuple((1 + r * n + i) if i_t == t else 0 for i_t in range(T) for i in range(n))
                     for t in range(T) for r in range(o))
        return _Chain(c.layers + (Dense(w, None, rows),), out, (c.layers, c.shape, w))

    def conv(self, c, node, w, bias, stride, padding, dilation, groups, label):
        wt = self.named[w]
        nd = wt.dim() - 2
        if bias is not None:
            raise _Unsupported(f"{label} has a bias (a per-channel bias shared over positions is not in the model "
                               "definition; use bias=False, as ResNets do)")
        if groups != 1 or tuple_of(dilation, nd) != (1,) * nd:
            raise _Unsupported(f"{label} with groups={groups}, dilation={dilation} (only groups=1, dilation=1)")
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            elif all(k % 2 for k in wt.shape[2:]) and tuple_of(stride, nd) == (1,) * nd:
                padding = tuple((k - 1) // 2 for k in wt.shape[2:])
            else:
                raise _Unsupported(f"{label} with padding={padding!r} and an even kernel or a stride")
        if len(c.shape) != nd + 1:
            raise _Unsupported(f"{label} on a per-point input of shape {c.shape} (needs (channels, ...))")
        pat = conv_pattern(c.shape[0], c.shape[1:], wt.shape[0], tuple(wt.shape[2:]), tuple_of(stride, nd),
                           tuple_of(padding, nd))
        return self.extend(c, node, Dense(w, None, pat))

    def pool(self, c, node, kind, kernel, stride, padding, label, ceil=False, dilation=1, nd=2):
        if tuple_of(padding, nd) != (0,) * nd or ceil or tuple_of(dilation, nd) != (1,) * nd:
            raise _Unsupported(f"{label} with padding, dilation or ceil_mode (only plain windows)")
        if len(c.shape) != nd + 1:
            raise _Unsupported(f"{label} on a per-point input of shape {c.shape}")
        k = tuple_of(kernel, nd)
        s = tuple_of(stride if stride not in (None, [], ()) else kernel, nd)
        return self.extend(c, node, Pool(kind, pool_windows(c.shape[0], c.shape[1:], k, s)))

    def act(self, c, node, found):
        act, why = found
        if why:
            raise _Unsupported(why)
        return self.extend(c, node, Act(act)) if act is not None else _Chain(c.layers, self.shape(node))

    def attention(self, node, q, k, v, scale):
        base, bshape = q[0], q[1]
        if k[:2] != (base, bshape) or len(bshape) != 2:
            raise _Unsupported("attention whose queries and keys are not projections of one (tokens, width) input")
        if isinstance(v, _Chain) and v.proj is not None and v.proj[:2] == (base, bshape):
            value = v.proj[2]
        elif isinstance(v, _Chain) and v.layers == base and v.shape == bshape:
            value = None
        else:
            raise _Unsupported("attention values that are neither the input nor a bias-free Linear of it")
        layer = Attention(q[2], k[2], bshape[0], value)
        if scale == 1:
            return _Chain(base + (layer,), self.shape(node))
        # Scores scaled by s: the input scaled by sqrt(s) before and the output by 1/sqrt(s) after
        # give the same function of the same parameters (exact; the model's Attention is unscaled).
        r = sp.sqrt(scale)
        return _Chain(base + (Act(scale_activation(r)), layer, Act(scale_activation(1 / r))), self.shape(node))

    def visit(self, node, env):
        args = [env.get(a, a) if isinstance(a, torch.fx.Node) else a for a in node.args]
        kw = {k: (env.get(a, a) if isinstance(a, torch.fx.Node) else a) for k, a in node.kwargs.items()}
        if any(a is _BAD for a in list(args) + list(kw.values())):
            return _BAD
        if node.op == "placeholder":
            if self.seen_input:
                raise _Unsupported("a second forward() argument (one data input only)")
            self.seen_input = True
            return _Chain((), self.shape(node))
        if node.op == "get_attr":
            return _Param(node.target) if node.target in self.named else _Other(node.target)
        if node.op == "output":
            return args[0]
        if node.op == "call_module":
            return self.module(node, self.gm.get_submodule(node.target), node.target, args, kw)
        return self.function(node, node.target, args, kw)

    def module(self, node, m, path, args, kw):
        label = f"{type(m).__name__} {path!r}"
        x = args[0] if args else None
        if isinstance(m, nn.Linear):
            return self.linear(self.chain(x), node, f"{path}.weight", f"{path}.bias" if m.bias is not None else None)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m.padding_mode != "zeros":
                raise _Unsupported(f"{label} with padding_mode={m.padding_mode!r}")
            return self.conv(self.chain(x), node, f"{path}.weight", m.bias, m.stride, m.padding, m.dilation,
                             m.groups, label)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            nd = 1 if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) else 2
            kind = "max" if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) else "avg"
            if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
                raise _Unsupported(f"{label} with return_indices / divisor_override")
            return self.pool(self.chain(x), node, kind, m.kernel_size, m.stride, m.padding, label,
                             m.ceil_mode, getattr(m, "dilation", 1), nd)
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
            c = self.chain(x)
            if set(tuple_of(m.output_size, len(c.shape) - 1)) != {1}:
                raise _Unsupported(f"{label} with output size {m.output_size} (only global pooling, size 1)")
            kind = "avg" if "Avg" in type(m).__name__ else "max"
            return self.extend(c, node, Pool(kind, pool_windows(c.shape[0], c.shape[1:], c.shape[1:], c.shape[1:])))
        if isinstance(m, nn.Flatten):
            return _Chain(self.chain(x).layers, self.shape(node))
        if isinstance(m, nn.LayerNorm):
            return self.layer_norm(self.chain(x), node, tuple(m.normalized_shape), m.weight, m.bias, m.eps, label)
        if isinstance(m, nn.Softmax):
            return self.softmax(x, m.dim)
        if isinstance(m, SharedLinear):
            c = self.chain(x)
            if len(c.shape) != 1:
                raise _Unsupported(f"{label} on a per-point input of shape {c.shape} (needs a vector)")
            return self.extend(c, node, Dense(f"{path}.v", None, m.pattern))
        if isinstance(m, Hadamard):
            return self.extend(self.chain(x), node, DiagonalLinear(tuple(f"{path}.{f}" for f in m.factors),
                                                                    tuple(f"{path}.{f}" for f in m.minus)))
        if isinstance(m, WeightNormLinear):
            return self.extend(self.chain(x), node, NormalizedDense(f"{path}.weight",
                                                                    f"{path}.bias" if m.bias is not None else None))
        try:
            return self.act(self.chain(x), node, module_activation(m))
        except KeyError:
            pass
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise _Unsupported(f"{label}: batch normalisation couples the points of a batch (training mode) or is "
                               "an affine map of fixed running statistics (eval mode); neither is in the model definition")
        raise _Unsupported(f"{label} is not in the model definition")

    def layer_norm(self, c, node, shape, weight, bias, eps, label):
        if shape != c.shape:
            raise _Unsupported(f"{label} over {shape} of a per-point {c.shape} tensor (only over the whole point)")
        if weight is not None or bias is not None:
            raise _Unsupported(f"{label} with an affine gain/bias (use elementwise_affine=False)")
        if eps != 0:
            raise _Unsupported(f"{label} with eps={eps:g} (not scale-invariant; the model's layer norm has eps=0)")
        return self.extend(c, node, Normalize("layer"))

    def softmax(self, x, dim):
        if isinstance(x, _Scores) and dim in (-1, 2):
            return _Attn(x)
        raise _Unsupported("softmax outside q @ k^T attention scores (over the last dimension)")

    def function(self, node, t, args, kw):
        x = args[0] if args else None
        name = t if isinstance(t, str) else getattr(t, "__name__", str(t))
        if t in ("size", "dim") or t is getattr or t is operator.getitem and isinstance(x, _Other):
            return _Other()
        if isinstance(x, _Other) or (isinstance(x, (int, float)) and not any(
                isinstance(a, (_Chain, _Scores, _Param)) for a in args[1:])):
            return _Other()
        if t in _LAYOUT_OPS:
            return _Chain(self.chain(x).layers, self.shape(node))
        if t is F.linear:
            w, b = args[1] if len(args) > 1 else kw["weight"], args[2] if len(args) > 2 else kw.get("bias")
            if not isinstance(w, _Param) or not (b is None or isinstance(b, _Param)):
                raise _Unsupported("F.linear with a weight that is not a parameter")
            return self.linear(self.chain(x), node, w.name, b.name if b else None)
        if t in (F.conv1d, F.conv2d):
            names = ("weight", "bias", "stride", "padding", "dilation", "groups")
            vals = dict(zip(names, args[1:]), **kw)
            w = vals["weight"]
            if not isinstance(w, _Param):
                raise _Unsupported(f"{name} with a weight that is not a parameter")
            return self.conv(self.chain(x), node, w.name, vals.get("bias"), vals.get("stride", 1),
                             vals.get("padding", 0), vals.get("dilation", 1), vals.get("groups", 1), name)
        if t in (F.max_pool2d, F.avg_pool2d, F.max_pool1d, F.avg_pool1d):
            vals = dict(zip(("kernel_size", "stride", "padding"), args[1:]), **kw)
            nd = 1 if name.endswith("1d") else 2
            return self.pool(self.chain(x), node, "max" if "max" in name else "avg", vals["kernel_size"],
                             vals.get("stride"), vals.get("padding", 0), name, vals.get("ceil_mode", False),
                             vals.get("dilation", 1), nd)
        if t is F.layer_norm:
            vals = dict(zip(("normalized_shape", "weight", "bias", "eps"), args[1:]), **kw)
            return self.layer_norm(self.chain(x), node, tuple(vals["normalized_shape"]), vals.get("weight"),
                                   vals.get("bias"), vals.get("eps", 1e-5), name)
        if t is F.normalize:
            c = self.chain(x)
            vals = dict(zip(("p", "dim"), args[1:]), **kw)
            if vals.get("p", 2.0) != 2 or vals.get("dim", 1) not in (1, -1) or len(c.shape) != 1:
                raise _Unsupported("F.normalize other than p=2 over the features of a vector")
            return self.extend(c, node, Normalize("l2"))
        if t in _SOFTMAX:
            return self.softmax(x, kw.get("dim", args[1] if len(args) > 1 else None))
        if t is F.scaled_dot_product_attention:
            q, k, v = (self.chain(a) for a in args[:3])
            vals = dict(zip(("attn_mask", "dropout_p", "is_causal", "scale"), args[3:]), **kw)
            if vals.get("attn_mask") is not None or vals.get("dropout_p", 0) or vals.get("is_causal"):
                raise _Unsupported("scaled_dot_product_attention with a mask, dropout or causal masking")
            if q.proj is None or k.proj is None:
                raise _Unsupported("scaled_dot_product_attention on queries/keys that are not bias-free Linears")
            s = vals.get("scale")
            scale = 1 / sp.sqrt(k.shape[-1]) if s is None else exact_constant(float(s))
            return self.attention(node, q.proj, k.proj, v, scale)
        if t in _ADD:
            a, b = args[0], args[1]
            if not (isinstance(a, _Chain) and isinstance(b, _Chain)):
                raise _Unsupported("an addition of a constant or parameter to the data path (a shared bias?)")
            short, long_ = (a, b) if len(a.layers) <= len(b.layers) else (b, a)
            if long_.layers[:len(short.layers)] != short.layers or short.shape != long_.shape or kw.get("alpha", 1) != 1:
                raise _Unsupported("an addition of two branches that is not x + f(x) (a residual)")
            block = long_.layers[len(short.layers):]
            if not block:
                raise _Unsupported("x + x (a constant factor 2; write 2 * x)")
            return _Chain(short.layers + (Residual(block),), self.shape(node))
        if t in _MUL or t in _DIV:
            a, b = args[0], args[1]
            data, const = (a, b) if not isinstance(a, (int, float)) else (b, a)
            if not isinstance(const, (int, float)) or (t in _DIV and data is not a):
                raise _Unsupported(f"{name} of two tensors (only a tensor times a number)")
            c = exact_constant(float(const))
            c = 1 / c if t in _DIV else c
            if isinstance(data, _Scores):
                return _Scores(data.q, data.k, data.scale * c)
            return self.extend(self.chain(data), node, Act(scale_activation(c)))
        if t in _POW:
            c = self.chain(x)
            k = 2 if name == "square" else args[1]
            last = c.layers[-1] if c.layers else None
            act = relu_squared(last.activation, k) if isinstance(last, Act) else None
            if act is None:
                raise _Unsupported(f"a power {k} that is not relu(z)**k")
            return _Chain(c.layers[:-1] + (Act(act),), self.shape(node))
        if t in _TRANSPOSE or t == "mT":
            c = self.chain(x)
            dims = [d % 3 for d in args[1:]] if t not in ("mT",) else [1, 2]
            if c.proj is None or len(c.shape) != 2 or sorted(dims[-2:]) != [1, 2] or (len(dims) == 3 and dims[0] != 0):
                raise _Unsupported(f"{name} other than k.transpose(-2, -1) of a key projection")
            return _KT(c.proj)
        if t in _MATMUL:
            a, b = args[0], args[1]
            if isinstance(a, _Chain) and isinstance(b, _KT):
                if a.proj is None:
                    raise _Unsupported("attention scores whose queries are not a bias-free Linear")
                return _Scores(a.proj, b.proj, sp.Integer(1))
            if isinstance(a, _Attn):
                return self.attention(node, a.scores.q, a.scores.k, b, a.scores.scale)
            if isinstance(a, _Chain) and isinstance(b, _Param) and len(a.shape) == 1:
                return self.linear(a, node, b.name, None, "transpose")
            raise _Unsupported("a matrix product outside x @ W and softmax(q @ k^T) @ v")
        try:
            return self.act(self.chain(x), node, function_activation(t, args, kw))
        except KeyError:
            pass
        raise _Unsupported(f"{name} is not in the model definition")


def from_module(module: nn.Module, example_input: torch.Tensor) -> Mapping:
    """Trace ``module`` and map it onto a ``Model`` (see the module docstring for the layout)."""
    name = type(module).__name__
    x = example_input.detach().double()
    module = copy.deepcopy(module).double()
    named = dict(module.named_parameters())
    in_shape = tuple(x.shape[1:])
    with torch.no_grad():
        out_shape = tuple(module(x).shape[1:])
    try:
        tracer = _Tracer()
        graph = tracer.trace(module)
        gm = torch.fx.GraphModule(tracer.root, graph)
        ShapeProp(gm).propagate(x)
    except Exception as exc:  # torch.fx raises many types (TraceError, TypeError, RuntimeError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return _unmapped(name, in_shape, out_shape, [f"torch.fx cannot trace {name}: {first}"])
    st = _Walk(gm, named, x.shape[0])
    env: dict[torch.fx.Node, object] = {}
    problems: list[str] = []
    out: object = None
    for node in gm.graph.nodes:
        try:
            env[node] = st.visit(node, env)
        except _Unsupported as u:
            problems.append(f"{u} at {_where(node)}")
            env[node] = _BAD
        if node.op == "output":
            out = env[node]
    if not problems and not isinstance(out, _Chain):
        problems.append("the module's output is not one tensor computed from the input")
    if problems or not isinstance(out, _Chain):  # (the second only tells the type checker)
        return _unmapped(name, in_shape, out_shape, problems)
    kinds = _layouts(named, out.layers)
    for w, how in st.kinds.items():
        if w in kinds and kinds[w] == {"same"}:
            kinds[w] = {how}
    layouts, reasons = [], []
    for pname, t in named.items():
        k = kinds.get(pname, {"same" if t.dim() <= 2 else "flat"})
        if len(k) > 1:
            reasons.append(f"parameter {pname!r} is used in two layouts ({', '.join(sorted(k))})")
        layouts.append(Layout(pname, tuple(t.shape), sorted(k)[0]))
    if reasons:
        return _unmapped(name, in_shape, out_shape, reasons)
    try:
        model = Model(f"{name} (torch)", math.prod(in_shape), tuple(Param(lay.name, lay.model_shape) for lay in layouts),
                      out.layers)
    except BadInput as exc:
        return _unmapped(name, in_shape, out_shape, [f"the traced layers do not form a model: {exc}"])
    mapping = Mapping(name, in_shape, out_shape, model, tuple(layouts), ())
    diff = _self_check(module, model, mapping, named, x)
    if not diff <= MAP_TOL:
        return _unmapped(name, in_shape, out_shape, [f"the mapped model differs from the module by {diff:.2e} "
                                                     "(relative) on random inputs: an op the tracer did not capture"],
                         layouts)
    return Mapping(name, in_shape, out_shape, model, tuple(layouts), (), diff)
