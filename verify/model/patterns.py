"""Sharing patterns of convolutions and windows of pooling, as index tables (channel-major).

References:
    Du, Hu & Lee (2018), Sec 2.2 (the sharing pattern g_h of a convolution).
"""

from __future__ import annotations

from verify.errors import BadInput

__all__ = ["conv1d_pattern", "conv2d_pattern", "pool2d_windows"]


def conv1d_pattern(n_in: int, kernel: int, stride: int = 1, padding: int = 0) -> tuple[tuple[int, ...], ...]:
    """Sharing pattern g of a single-channel 1-D convolution (entries 1..kernel, 0 = no connection)."""
    if kernel < 1 or stride < 1 or padding < 0 or n_in < 1:
        raise BadInput(f"Got conv1d(n_in={n_in}, kernel={kernel}, stride={stride}, padding={padding}); "
                       "need n_in, kernel, stride >= 1 and padding >= 0.")
    n_out = (n_in + 2 * padding - kernel) // stride + 1
    if n_out < 1:
        raise BadInput(f"conv1d with n_in={n_in}, kernel={kernel} has no output; lower kernel or add padding.")
    rows = []
    for o in range(n_out):
        row = [0] * n_in
        for t in range(kernel):
            j = o * stride + t - padding
            if 0 <= j < n_in:
                row[j] = t + 1
        rows.append(tuple(row))
    return tuple(rows)


def conv2d_pattern(height: int, width: int, kernel: int | tuple[int, int], stride: int = 1, padding: int = 0,
                   channels: int = 1, out_channels: int = 1) -> tuple[tuple[int, ...], ...]:
    """Sharing pattern g of a 2-D convolution (cross-correlation), channel-major flattening.

    Input index (c, r, q) -> c*height*width + r*width + q; output likewise with the output size
    (height + 2*padding - kh) // stride + 1 (and the same for width). Kernel entry (o, c, i, j)
    is the free parameter number 1 + ((o*channels + c)*kh + i)*kw + j. Zero padding: taps that fall
    outside the image have no connection (0).
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if min(height, width, kh, kw, stride, channels, out_channels) < 1 or padding < 0:
        raise BadInput(f"Got conv2d(height={height}, width={width}, kernel={(kh, kw)}, stride={stride}, "
                       f"padding={padding}, channels={channels}, out_channels={out_channels}); every size and "
                       "the stride must be >= 1 and padding >= 0.")
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise BadInput(f"conv2d with a {kh}x{kw} kernel on a {height}x{width} image has no output; "
                       "lower the kernel or add padding.")
    rows = []
    for o in range(out_channels):
        for r in range(oh):
            for q in range(ow):
                row = [0] * (channels * height * width)
                for c in range(channels):
                    for i in range(kh):
                        for j in range(kw):
                            y, x = r * stride + i - padding, q * stride + j - padding
                            if 0 <= y < height and 0 <= x < width:
                                row[c * height * width + y * width + x] = 1 + ((o * channels + c) * kh + i) * kw + j
                rows.append(tuple(row))
    return tuple(rows)


def pool2d_windows(height: int, width: int, size: int | tuple[int, int], stride: int | None = None,
                   channels: int = 1) -> tuple[tuple[int, ...], ...]:
    """Windows of a 2-D pooling (per channel, channel-major flattening, no padding); the stride
    defaults to the window size (non-overlapping windows, the usual choice)."""
    ph, pw = (size, size) if isinstance(size, int) else tuple(size)
    stride = stride if stride is not None else ph
    if min(height, width, ph, pw, stride, channels) < 1:
        raise BadInput(f"Got pool2d(height={height}, width={width}, size={(ph, pw)}, stride={stride}, "
                       f"channels={channels}); every value must be >= 1.")
    oh, ow = (height - ph) // stride + 1, (width - pw) // stride + 1
    if oh < 1 or ow < 1:
        raise BadInput(f"A {ph}x{pw} pooling window does not fit a {height}x{width} image; lower the size.")
    return tuple(tuple(c * height * width + (r * stride + i) * width + q * stride + j
                       for i in range(ph) for j in range(pw))
                 for c in range(channels) for r in range(oh) for q in range(ow))
