"""Bring your own PyTorch model: check, property-test and discover conservation laws on an ``nn.Module``.

    import torch, verify.torch as vt
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    vt.check(net, "sum(0.weight[i,:]**2) + 0.bias[i]**2 - sum(2.weight[:,i]**2)",
             example_input=torch.randn(5, 3))

* ``from_module`` traces the module (torch.fx) and maps it onto ``verify.model.Model`` when every op is
  supported; each unsupported op is named in one line (which op, where).
* ``check`` proves (mapped module: the exact engine, symbolic or randomized by ``verify check``'s
  ``auto`` rule, the randomized verdict being ``ProvenRandomized``) or property-tests in float64 with
  torch.func (any module): the numeric verdict is its own kind, ``NumericallyConserved``, never ``Proven``.
* ``discover`` counts the independent laws (Lie-algebra rank with torch.func jvp/vjp) and finds the
  polynomial laws of degree <= 2.

Needs PyTorch: ``pip install torch==2.13.0 && pip install -e '.[torch]'``.
"""

from __future__ import annotations

from verify.errors import BadInput

try:
    import torch as _torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised by a subprocess test without torch on sys.path
    class TorchMissing(BadInput, ImportError):
        """verify.torch needs PyTorch (both a BadInput for the CLI and an ImportError for pytest)."""

    raise TorchMissing("verify.torch needs PyTorch, which is not installed: run pip install torch==2.13.0 "
                       "&& pip install -e '.[torch]'.") from None

import warnings  # noqa: E402

with warnings.catch_warnings():
    # PyTorch's forward-mode AD loads its decompositions on first use through torch.jit.script, which
    # warns DeprecationWarning (an error under pytest's filterwarnings=error); load them once here.
    warnings.simplefilter("ignore", DeprecationWarning)
    _torch.func.jvp(lambda t: t * t, (_torch.ones(1, dtype=_torch.float64),), (_torch.ones(1, dtype=_torch.float64),))

from .api import assert_conserved, check, discover, from_module  # noqa: E402
from .modules import Hadamard, SharedLinear, WeightNormLinear  # noqa: E402
from .verdicts import NumericallyConserved, NumericViolation, NumericWitness  # noqa: E402
from . import strategies  # noqa: E402,F401

__all__ = ["from_module", "check", "assert_conserved", "discover", "strategies", "SharedLinear", "Hadamard",
           "WeightNormLinear", "NumericallyConserved", "NumericViolation", "NumericWitness"]
