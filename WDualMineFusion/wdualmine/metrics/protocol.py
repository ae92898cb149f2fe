"""Image preparation of the R1 protocol (METRICS.md section 1): grey conversion and fused-image stretch."""

import numpy as np

# BT.601 luma weights as float32, as OpenCV's cvtColor(BGR2GRAY) uses them on float32 images.
_LUMA_R = np.float32(0.299)
_LUMA_G = np.float32(0.587)
_LUMA_B = np.float32(0.114)


def to_r1_grey(image):
    """R1 grey image (float64, integer values 0..255) from an H x W or H x W x 3 (RGB order) image.

    R1 reads every file with cv2.imread (3-channel BGR, so grey files get R = G = B), casts to
    float32, takes BT.601 luma and rounds. The sum is formed in float32 in OpenCV's scalar order
    (B, then G, then R) so that values near .5 round the same way. An alpha channel is ignored,
    as cv2.imread drops it.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        r = g = b = image.astype(np.float32)
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        r, g, b = (image[..., c].astype(np.float32) for c in range(3))
    else:
        raise ValueError(f"expected an H x W or H x W x 3 image, got shape {image.shape}")
    luma = b * _LUMA_B + g * _LUMA_G + r * _LUMA_R
    return np.round(luma).astype(np.float64)


def r1_stretch(fused):
    """Min-max stretch of a fused image to 0..255, rounded to integers as R1's uint8 PNG round trip.

    Returned as float64. A constant image has no range to stretch and becomes all zeros.
    """
    fused = np.asarray(fused, dtype=np.float64)
    low, high = fused.min(), fused.max()
    if high == low:
        return np.zeros(fused.shape)
    return np.round((fused - low) / (high - low) * 255.0)
