"""Qabf of METRICS.md (R1 = VIFB metricsQabf): Xydeas & Petrovic gradient-based edge preservation."""

import numpy as np

from ._filters import convolve_same_zero

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])

# Sigmoid constants of the original paper and code.
GAMMA_G, KAPPA_G, SIGMA_G = 0.9994, -15.0, 0.5
GAMMA_A, KAPPA_A, SIGMA_A = 0.9879, -22.0, 0.8


def orientation(sx, sy):
    """alpha = arctan(Sy / Sx), pi/2 where Sx == 0: the plain arctan, not atan2, so alpha is in (-pi/2, pi/2]."""
    sx = np.asarray(sx, dtype=np.float64)
    sy = np.asarray(sy, dtype=np.float64)
    vertical = sx == 0
    return np.where(vertical, np.pi / 2, np.arctan(sy / np.where(vertical, 1.0, sx)))


def sobel_strength_orientation(image):
    """Gradient strength g = sqrt(Sx^2 + Sy^2) and orientation alpha from zero-padded Sobel convolutions."""
    sx = convolve_same_zero(image, SOBEL_X)
    sy = convolve_same_zero(image, SOBEL_Y)
    return np.sqrt(sx * sx + sy * sy), orientation(sx, sy)


def edge_preservation(g_x, alpha_x, g_f, alpha_f):
    """Per-pixel Q^{XF} = Q_g * Q_alpha."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # Where g_X == g_F the original code takes g_F itself (a quirk: 0 where both are 0,
        # and where they are equal and non-zero the sigmoid is saturated anyway).
        strength = np.where(g_x > g_f, g_f / g_x, np.where(g_x < g_f, g_x / g_f, g_f))
    relative_orientation = 1.0 - np.abs(alpha_x - alpha_f) / (np.pi / 2)
    q_g = GAMMA_G / (1.0 + np.exp(KAPPA_G * (strength - SIGMA_G)))
    q_a = GAMMA_A / (1.0 + np.exp(KAPPA_A * (relative_orientation - SIGMA_A)))
    return q_g * q_a


def qabf(fused, a, b):
    """Qabf = sum(Q^{AF} g_A + Q^{BF} g_B) / sum(g_A + g_B) over all pixels, borders included.

    NaN when neither source has any gradient (0/0, as in R1).
    """
    shapes = {np.shape(fused), np.shape(a), np.shape(b)}
    if len(shapes) != 1:
        raise ValueError(f"images differ in shape: {sorted(shapes)}")
    g_f, alpha_f = sobel_strength_orientation(fused)
    num = 0.0
    den = 0.0
    for source in (a, b):
        g_x, alpha_x = sobel_strength_orientation(source)
        num += np.sum(edge_preservation(g_x, alpha_x, g_f, alpha_f) * g_x)  # weight w_X = g_X^L, L = 1
        den += np.sum(g_x)
    return float(num / den) if den > 0 else float("nan")
