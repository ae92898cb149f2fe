"""Correlation-based metrics of METRICS.md (R1): CC, SCD, and the CC ceiling of a source pair."""

import numpy as np


def corr(x, y):
    """Pearson correlation over all pixels; NaN when either image is constant (as np.corrcoef)."""
    dx = np.asarray(x, dtype=np.float64).ravel()
    dy = np.asarray(y, dtype=np.float64).ravel()
    dx = dx - dx.mean()
    dy = dy - dy.mean()
    # np.sum rather than np.dot: no multithreaded BLAS call, which stalls on a busy machine.
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))


def cc(fused, a, b):
    """CC = (corr(A, F) + corr(B, F)) / 2."""
    return (corr(a, fused) + corr(b, fused)) / 2.0


def scd(fused, a, b):
    """SCD (Aslantas & Bendes 2015) = corr(A, F - B) + corr(B, F - A).

    The two terms swap when A and B swap, so the sum does not depend on the source order.
    """
    fused = np.asarray(fused, dtype=np.float64)
    return corr(a, fused - b) + corr(b, fused - a)


def cc_ceiling(a, b):
    """Largest CC any fused image can reach for this source pair: sqrt((1 + rho) / 2), rho = corr(A, B).

    CC = <z_F, z_A + z_B> / (2N) with z the z-scores, and by Cauchy-Schwarz this is at most
    |z_A + z_B| / (2 sqrt(N)) = sqrt((1 + rho) / 2); the sum of the z-scored sources reaches it.
    """
    return float(np.sqrt((1.0 + corr(a, b)) / 2.0))
