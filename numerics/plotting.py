"""Figures: matplotlib with the Agg canvas, saved as PNG and SVG, atomically.

We build figures with :class:`matplotlib.figure.Figure` and attach an Agg canvas explicitly, so
no pyplot global state (current figure, interactive backend) is ever touched: safe in worker
processes and under ``filterwarnings = error``.

References:
    ../shared/DESIGN.md, "Numerics conventions": matplotlib, Agg, PNG and SVG, one figure per claim.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from verify._infra.atomic import atomic_path

__all__ = ["new_figure", "save_figure"]


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 5.0,
               height: float = 3.6) -> tuple[Figure, object]:
    """A new Agg-backed figure with an ``nrows x ncols`` grid; returns ``(fig, axes)``.

    ``width``/``height`` are per panel, in inches.
    """
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def save_figure(fig: Figure, out_dir: Path, stem: str) -> tuple[str, str]:
    """Save ``fig`` as ``out_dir/stem.png`` and ``out_dir/stem.svg`` atomically; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        final = out_dir / f"{stem}.{ext}"
        with atomic_path(final, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=120)
        paths.append(str(final))
    return paths[0], paths[1]
