"""``verify check|discover path/to/model.py:ClassName --input-shape B,...``: the CLI side of verify.torch.

This imports (runs) the user's own Python file, as ``python path/to/model.py`` would, then builds
``ClassName()`` with no arguments. Every failure is one line (``BadInput``: exit 2, no traceback).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path

import torch

from ._bridge import BadInput, UnknownName, exit_code
from .api import check, discover
from .verdicts import render, to_json

__all__ = ["load_module", "parse_shape", "run_check", "run_discover"]


def load_module(ref: str) -> torch.nn.Module:
    path, _, name = ref.rpartition(":")
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"{path}: no such file; give path/to/model.py:ClassName.")
    spec = importlib.util.spec_from_file_location(f"verify_user_model_{abs(hash(str(file.resolve())))}", file)
    if spec is None or spec.loader is None:  # no loader for the file's suffix (model.txt)
        raise BadInput(f"{path}: not a Python source file; give path/to/model.py:ClassName.")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))  # so the file's own sibling imports work
    try:
        spec.loader.exec_module(mod)
    except BaseException as exc:  # the user's file may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise BadInput(f"importing {path} raised {type(exc).__name__}: {first}; fix the file or its imports.") from None
    finally:
        sys.path.remove(str(file.resolve().parent))
    classes = [n for n, v in vars(mod).items() if inspect.isclass(v) and issubclass(v, torch.nn.Module)
               and v.__module__ == mod.__name__]
    if not hasattr(mod, name):
        raise UnknownName("class", name, classes, hint=f"in {path}.")
    cls = getattr(mod, name)
    if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
        raise BadInput(f"{name} in {path} is not a torch.nn.Module subclass; name the model's class.")
    try:
        return cls()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise BadInput(f"{name}() in {path} raised {type(exc).__name__}: {first}; the class must be "
                       "constructible without arguments.") from None


def parse_shape(text: str | None) -> tuple[int, ...]:
    if not text:
        raise BadInput("a model.py:Class argument needs --input-shape, the example batch's shape with the batch "
                       "first, e.g. --input-shape 4,3.")
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise BadInput(f"--input-shape {text!r}: give comma-separated integers, batch first, e.g. 4,3.") from None
    if not shape or min(shape) < 1:
        raise BadInput(f"--input-shape {text!r}: every size must be >= 1.")
    return shape


def _example(args):
    return torch.randn(parse_shape(args.input_shape), generator=torch.Generator().manual_seed(args.seed),
                       dtype=torch.float64)


def run_check(args, weight_decay) -> int:
    if args.trajectory:
        raise BadInput("--trajectory is for TOML specs; the module route property-tests instead.")
    module = load_module(args.spec)
    v = check(module, args.quantity, example_input=_example(args), dynamics=args.dynamics,
              weight_decay=weight_decay, seed=args.seed, method=getattr(args, "method", "auto"),
              points=getattr(args, "points", None), **({"budget_ops": args.budget} if args.budget else {}))
    print(json.dumps(to_json(v), indent=1, default=str) if args.json else render(v))
    return exit_code([v.verdict])


def run_discover(args) -> int:
    if args.dynamics != "flow":
        raise BadInput("the module route of discover counts gradient-flow laws only; drop --dynamics.")
    module = load_module(args.spec)
    r = discover(module, _example(args), degree=0 if args.count else min(args.degree, 2), seed=args.seed)
    if args.json:
        from dataclasses import asdict
        print(json.dumps(asdict(r), indent=1, default=str))
    else:
        print(r.render_text())
    return 0
