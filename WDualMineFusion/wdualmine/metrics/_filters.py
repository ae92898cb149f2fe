"""Filtering primitives shared by the metrics (numpy only, so they also run inside 3D Slicer).

Every filter here is a true convolution (kernel flipped), like scipy.signal.convolve2d and
MATLAB conv2; the symmetric windows of VIF and SSIM do not care, the signs of the Sobel responses do.
All functions accept a single H x W image or a stack (..., H, W) and filter the last two axes,
so a metric can filter all its maps in one call.
"""

import numpy as np


def convolve_valid_separable(images, taps_rows, taps_cols=None):
    """'valid' 2-D convolution of images (..., H, W) with the separable kernel outer(taps_rows, taps_cols).

    The output is (..., H - len(taps_rows) + 1, W - len(taps_cols) + 1).
    """
    taps_rows = tuple(float(t) for t in taps_rows)
    taps_cols = taps_rows if taps_cols is None else tuple(float(t) for t in taps_cols)
    images = np.asarray(images, dtype=np.float64)
    height, width = images.shape[-2:]
    if height < len(taps_rows) or width < len(taps_cols):
        raise ValueError(
            f"image of {height}x{width} pixels is smaller than the {len(taps_rows)}x{len(taps_cols)} window"
        )
    return _convolve_valid_1d(_convolve_valid_1d(images, taps_cols, -1), taps_rows, -2)


def _convolve_valid_1d(images, taps, axis):
    """'valid' 1-D true convolution along axis as a sum of shifted slices.

    Deliberately no BLAS matrix product: it was faster on an idle machine, but multithreaded BLAS
    stalled while other work (training) kept the cores busy (VIF of a 256x256 pair: 25 -> 400 ms).
    Slices also keep exact zeros exact.
    """
    n_taps = len(taps)
    n_out = images.shape[axis] - n_taps + 1
    index = [slice(None)] * images.ndim

    def shifted(k):
        index[axis] = slice(k, k + n_out)
        return images[tuple(index)]

    centre = n_taps // 2
    if n_taps % 2 == 1 and taps == taps[::-1]:
        # Symmetric window (Gaussian, box): flipping changes nothing, and adding the mirrored
        # slices before the multiply halves the multiplications (VIF's 17-tap window on eight
        # 256x256 maps: about 13 -> 8 ms).
        out = taps[centre] * shifted(centre)
        buffer = np.empty_like(out)
        for k in range(centre):
            np.add(shifted(k), shifted(n_taps - 1 - k), out=buffer)
            buffer *= taps[k]
            out += buffer
        return out
    out = taps[-1] * shifted(0)
    buffer = np.empty_like(out)
    for k, tap in enumerate(taps[-2::-1], start=1):  # true convolution: taps reversed
        np.multiply(shifted(k), tap, out=buffer)
        out += buffer
    return out


def box_filter_reflect(images, size):
    """Mean over size x size windows, same output size, edges extended like scipy.ndimage's 'reflect'.

    scipy's 'reflect' mirrors about the outer edge of the last pixel, so the edge pixel is repeated
    (d c b a | a b c d); numpy calls that mode 'symmetric' (numpy's own 'reflect' skips the edge pixel).
    """
    images = np.asarray(images, dtype=np.float64)
    before = size // 2
    after = size - 1 - before
    pad = [(0, 0)] * (images.ndim - 2) + [(before, after), (before, after)]
    padded = np.pad(images, pad, mode="symmetric")
    taps = np.full(size, 1.0 / size)
    return convolve_valid_separable(padded, taps)


def convolve_same_zero(image, kernel):
    """True 2-D convolution with zero padding and 'same' output size (scipy convolve2d(mode='same')).

    For small kernels (Sobel): sum of shifted slices, exact for integer images.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    k_rows, k_cols = kernel.shape
    if k_rows % 2 == 0 or k_cols % 2 == 0:
        raise ValueError("convolve_same_zero needs an odd-sized kernel")
    r_rows, r_cols = k_rows // 2, k_cols // 2
    pad = [(0, 0)] * (image.ndim - 2) + [(r_rows, r_rows), (r_cols, r_cols)]
    padded = np.pad(image, pad, mode="constant")
    height, width = image.shape[-2:]
    # Convolution = correlation with the kernel rotated by 180 degrees.
    flipped = kernel[::-1, ::-1]
    out = np.zeros(image.shape)
    for u in range(k_rows):
        for v in range(k_cols):
            if flipped[u, v] != 0.0:
                out += flipped[u, v] * padded[..., u:u + height, v:v + width]
    return out
