"""Live preview: re-fuse one slice when a control moves, reusing the encoder's work for that slice.

The engine splits the per-slice path of ``wdualmine.pipeline.fuse_volume`` into ``slab_inputs`` (window,
resize to the working size) + ``Fuser.encode_batch`` (pad, encode: everything no control changes) and
``decode_slab`` (the controls' part at native size). A session keeps
the aligned pair of the last full fusion and its ``SlicePlan``; the first preview of a slice encodes it and
caches the result, every later control change only decodes. With the same controls the preview equals
the full fusion's slice.

Pure numpy/torch: safe to run on the worker thread. No MRML here.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

CACHE_SLICES = 8


class PreviewSession:
    def __init__(self, fuser, pair, axis: str = "auto", workingSize: int | None = 256):
        from wdualmine.pipeline import plan_slices

        self.fuser = fuser
        self.pair = pair
        self.plan = plan_slices(pair, axis, workingSize)
        self.along = self.plan.along
        self.sliceCount = pair.a.shape[self.along]
        self._cache: OrderedDict[int, tuple] = OrderedDict()

    def _encoded(self, index: int):
        """(EncodedBatch, SlabInputs) of one slice, from the cache or encoded now."""
        from wdualmine.pipeline import slab_inputs

        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        inputs = slab_inputs(self.pair, self.plan, slice(index, index + 1))
        entry = (self.fuser.encode_batch(inputs.a, inputs.b), inputs)
        self._cache[index] = entry
        while len(self._cache) > CACHE_SLICES:
            self._cache.popitem(last=False)
        return entry

    def fuseSlice(self, index: int, controls, maps: bool = True) -> dict[str, np.ndarray]:
        """The fused slice (and maps) at ``index`` along the slicing axis, as 2-D arrays of the plane's shape.

        Keys: ``fused`` (0..1) and, with ``maps``, ``reliability_a``, ``reliability_b``, ``arbitration``, all
        0 where both inputs are background (as in the full fusion), and ``foreground`` (that mask).
        """
        from wdualmine.pipeline import decode_slab

        if not 0 <= index < self.sliceCount:
            raise IndexError(f"slice {index} is outside the volume (0..{self.sliceCount - 1})")
        encoded, inputs = self._encoded(index)
        native = decode_slab(self.fuser, encoded, inputs, self.plan, controls, maps, mask_maps=True)
        result = {"fused": native.fused[0], "foreground": inputs.foreground[0]}
        result.update({name: values[0] for name, values in native.maps.items()})
        return result

    def clearCache(self) -> None:
        self._cache.clear()


def benchmarkPreview(session: PreviewSession, index: int | None = None, updates: int = 20) -> dict[str, float]:
    """Time the preview path: the first (encode + decode) call and later slider moves (decode only), in ms.

    Measures and returns; asserts nothing. ``index`` defaults to the middle slice.
    """
    from wdualmine.controls import FusionControls

    index = session.sliceCount // 2 if index is None else index
    session.clearCache()
    start = time.perf_counter()
    session.fuseSlice(index, FusionControls())
    first = (time.perf_counter() - start) * 1000
    times = []
    for step in range(updates):
        controls = FusionControls(detail_strength=0.5 + 1.0 * (step % 5) / 4, reliability_bias=-0.5 + 0.25 * (step % 4))
        start = time.perf_counter()
        session.fuseSlice(index, controls)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "first_ms": first,
        "update_median_ms": float(np.median(times)),
        "update_min_ms": float(np.min(times)),
        "update_max_ms": float(np.max(times)),
        "updates": updates,
        "slice_shape": tuple(session.plan.plane_shape),
        "network_shape": tuple(session.plan.net_shape),
    }
