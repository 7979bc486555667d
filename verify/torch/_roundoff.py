"""How much round-off the float64 gradient of a module can carry: the numeric route's ``atol``.

Why this exists: the residual dQ/dt = <grad Q, theta'> is compared with the size of its terms m =
sum_k |dQ/dtheta_k| |theta'_k| (``_qeval``). That covers the round-off of the final sum (``RTOL``
in ``_numeric``), but not the round-off *inside* theta' = -grad L, which is absolute, not relative
to theta'. Seen on fc1 -> BatchNorm1d -> relu -> fc2 at a draw where the batch variance is 0: the BN
output is exactly 0 in real arithmetic, but PyTorch computes it as the fused h * alpha + (beta -
mean * alpha) with alpha = gamma / sqrt(var + eps) = 0.375 / sqrt(1e-5) = 118.6, and the FMA leaves
7.1e-15, half an ulp of 74 = h * alpha. The fc2 gradient is then pure round-off (relu(7.1e-15) * C)
while the gamma gradient is exactly 0, so the residual of gamma^2 + beta^2 - |fc2[:, i]|^2 equals its
only nonzero term: relative residual 1.0 for a law that holds exactly.

No module-independent bound on a black-box gradient's round-off exists (the size that matters, 74
above, is an intermediate value of a fused kernel), so it is *measured* by Monte Carlo arithmetic
(Parker 1997; Verificarlo's "random rounding"): the gradient is recomputed ``RUNS`` times with every
floating input of every ATen op, forward and backward (a ``TorchDispatchMode``, below autograd, so
fused kernels such as ``native_batch_norm`` and their backward formulas included), multiplied by
(1 + delta), delta uniform in [-UNIT, UNIT], UNIT = 2^-52 = twice float64's unit round-off 2^-53
(real round-to-nearest errors are <= 2^-53 relative, so each perturbation is at least as large as
the rounding it stands for). An input that is exactly zero stays zero (a stored 0 carries no
rounding; a drawn 0 at a ReLU kink keeps its branch). The spread e_k = max over runs |g_k(run) - g_k| estimates the
absolute round-off of entry k of the gradient; ``_numeric`` turns it into

    atol = KAPPA * sum_k |dQ/dtheta_k| * e_k        (the m-recursion of ``_qeval`` with tangent e).

KAPPA = 32. First order, g(run) - g = sum_j a_j delta_j over the perturbed inputs j; the real error
is sum_j a_j rho_j with |rho_j| <= 2^-53. For independent rounding (the probabilistic model of
Higham & Mary 2019) Hoeffding gives |sum a_j rho_j| <= 6 * 2^-53 * |a|_2 except with probability
3e-8, i.e. <= 5.2 sigma with sigma = 2^-52 |a|_2 / sqrt(3) the spread of one run; the largest of 4
runs is >= sigma / 4 except with probability 1.5e-3 (P(|N(0,1)| < 1/4)^4). Hence 5.2 * 4 = 21;
KAPPA = 32 leaves 1.5x for partly correlated rounding (identical values along the batch round
identically). The allowance scales with e, i.e. with the round-off of this very gradient: on a
generic draw e_k ~ 1e-16 |g_k|, so atol ~ 3e-15 m, far below RTOL * m = 1e-8 m, and violations of
size 1e-4 m or more (the negative controls) are untouched.

This is an estimate of round-off, not a bound; a draw passed by it is counted and reported by the
verdict, and the decision it supports is a numeric verdict, never a proof.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["RUNS", "KAPPA", "UNIT", "gradient_spread"]

RUNS = 4
KAPPA = 32.0
UNIT = 2.0 ** -52


class _Jitter(TorchDispatchMode):
    """Multiply every floating input of every non-aliasing ATen op argument by (1 + U[-UNIT, UNIT])."""

    def __init__(self, seed: int):
        super().__init__()
        self.gen = torch.Generator().manual_seed(seed)

    def _jitter(self, t):
        if isinstance(t, (list, tuple)):
            return type(t)(self._jitter(x) for x in t)
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0:
            return t
        delta = (torch.rand(t.shape, generator=self.gen, dtype=t.dtype) * 2.0 - 1.0) * UNIT
        return t + t * delta

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        schema = func._schema.arguments
        # Arguments with alias annotations (views, in-place targets) are passed untouched: a copy
        # would break the aliasing the op promises; their values are rounded by the ops that made them.
        out = []
        for i, a in enumerate(args):
            plain = i < len(schema) and schema[i].alias_info is None
            out.append(self._jitter(a) if plain else a)
        for arg in schema:
            if arg.name in kwargs and arg.alias_info is None:
                kwargs[arg.name] = self._jitter(kwargs[arg.name])
        return func(*out, **kwargs)


def gradient_spread(grad: Callable[[], dict], g: dict, *, seed: int = 0,
                    decided: Callable[[dict], bool] | None = None) -> dict:
    """e_k = max over ``RUNS`` jittered recomputations of |grad()_k - g_k| (``g`` = grad() unjittered).

    ``grad`` must be deterministic apart from the jitter; each run's jitter is seeded (``seed`` + run),
    so the estimate, and Hypothesis' verdict on a draw, is reproducible. ``decided(spread)``, asked
    after the first run, may stop early (a residual a million times above what one run allows: see
    ``_numeric.roundoff``); Hypothesis' shrinker asks for hundreds of clear violations.
    """
    spread = {n: torch.zeros_like(v) for n, v in g.items()}
    for run in range(RUNS):
        with _Jitter(seed + run):
            gr = grad()
        for n in spread:
            # A jittered run that is not finite gives no allowance (0), never an infinite one: atol may
            # only excuse round-off, it must not hide a violation behind a NaN.
            diff = torch.nan_to_num((gr[n] - g[n]).abs(), nan=0.0, posinf=0.0)
            spread[n] = torch.maximum(spread[n], diff)
        if run == 0 and decided is not None and decided(spread):
            break
    return spread
