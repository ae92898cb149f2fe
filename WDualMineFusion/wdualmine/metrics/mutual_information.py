"""MI of METRICS.md (R1): exact grey-level joint histogram, natural log (nats), summed over both sources."""

import numpy as np


def _labels(image):
    """Integer labels of the grey levels of an image, and how many labels there can be.

    R1 calls sklearn's mutual_info_score, which treats every distinct value as its own label.
    R1 images are integers 0..255, so the grey level itself is the label (fast path, 256 bins);
    any other values fall back to labelling each distinct value, as sklearn would.
    """
    flat = np.asarray(image, dtype=np.float64).ravel()
    if flat.size and flat.min() >= 0 and flat.max() <= 255 and np.array_equal(flat, np.round(flat)):
        return flat.astype(np.intp), 256
    values, inverse = np.unique(flat, return_inverse=True)
    return inverse.ravel(), len(values)


def _mutual_information_labels(labels_x, n_x, labels_y, n_y):
    joint = np.bincount(labels_x * n_y + labels_y, minlength=n_x * n_y).reshape(n_x, n_y)
    p_xy = joint / labels_x.size
    p_x = p_xy.sum(axis=1)
    p_y = p_xy.sum(axis=0)
    i, j = np.nonzero(joint)
    p = p_xy[i, j]
    mi = np.sum(p * (np.log(p) - np.log(p_x[i]) - np.log(p_y[j])))
    # sklearn clips the tiny negative values that rounding gives for independent images.
    return float(max(mi, 0.0))


def mutual_information(x, y):
    """I(X;Y) in nats from the joint histogram of exact grey levels."""
    if np.shape(x) != np.shape(y):
        raise ValueError(f"images differ in shape: {np.shape(x)} vs {np.shape(y)}")
    return _mutual_information_labels(*_labels(x), *_labels(y))


def mi(fused, a, b):
    """MI = I(F;A) + I(F;B) in nats (no normalisation by entropies)."""
    for source in (a, b):
        if np.shape(source) != np.shape(fused):
            raise ValueError(f"images differ in shape: {np.shape(fused)} vs {np.shape(source)}")
    labels_f = _labels(fused)
    return _mutual_information_labels(*labels_f, *_labels(a)) + _mutual_information_labels(*labels_f, *_labels(b))
