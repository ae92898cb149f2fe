"""Running the network on stacks of 2-D slices: padding, batching, device fallback, maps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .controls import FusionControls
from .device import describe_device, is_out_of_memory, resolve_device
from .network import SIZE_MULTIPLE, EncodedPair, WDualMineNet
from .network.residual import compose_output, foreground_mask, needs_rolloff
from .weights import load_model, load_shipped_model

log = logging.getLogger(__name__)

MAP_NAMES = ("reliability_a", "reliability_b", "arbitration")
# the fastest batch per device type, measured (README, Benchmarks): on the CPU bigger batches are slower per slice
DEFAULT_BATCH_SIZES = {"cpu": 1}
GPU_BATCH_SIZE = 8


def default_batch_size(device: torch.device) -> int:
    return DEFAULT_BATCH_SIZES.get(device.type, GPU_BATCH_SIZE)


class Cancelled(RuntimeError):
    """The caller asked to stop; nothing was written."""


@dataclass
class EncodedBatch:
    """A padded, encoded batch and the size to crop the outputs back to."""

    pair: EncodedPair
    height: int
    width: int


@dataclass
class SliceResult:
    """Per-slice outputs, float32 arrays of shape N x H x W.

    ``residual`` is the experts' bounded residual before the detail strength
    (kept only when asked, for a base computed at another resolution).
    """

    fused: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    residual: np.ndarray | None = None


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad the last two axes up to a multiple (zero is background, so padding adds no signal)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h))
    return x, (height, width)


class Fuser:
    """Holds one loaded model on one device and fuses batches of slice pairs."""

    def __init__(self, model: WDualMineNet, device: torch.device, batch_size: int | None = None, meta: dict | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = max(1, int(default_batch_size(device) if batch_size is None else batch_size))
        self.meta = meta or {}
        self.notes: list[str] = []  # user-facing notes such as a fallback to the CPU
        self._use_channels_last()

    @classmethod
    def for_task(cls, task: str, device: str = "auto", weights: str | None = None, batch_size: int | None = None) -> "Fuser":
        """Load the shipped model of a task (ct, pet, spect), or a given checkpoint, on a device."""
        resolved = resolve_device(device)
        if weights:
            model, meta = load_model(weights, None, "cpu")
        else:
            model, meta = load_shipped_model(task, "cpu")
        log.info("W-DUALMINE %s model on %s", task, describe_device(resolved))
        return cls(model, resolved, batch_size, meta)

    def _use_channels_last(self) -> None:
        # on the CPU, oneDNN convolutions with few channels are 2-3x faster in NHWC
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)

    def _fall_back_to_cpu(self, reason: str) -> None:
        note = f"GPU out of memory even with batch 1 ({reason}); continuing on the CPU, which is slower"
        log.warning(note)
        self.notes.append(note)
        self.device = torch.device("cpu")
        self.model.to(self.device)
        self._use_channels_last()

    def _padded(self, a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """N x H x W arrays as padded N x 1 x H' x W' tensors on the device, and the size to crop back to."""
        ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(1)
        tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)).unsqueeze(1)
        ta, (height, width) = pad_to_multiple(ta)
        tb, _ = pad_to_multiple(tb)
        ta = ta.to(self.device).contiguous(memory_format=self.memory_format)
        tb = tb.to(self.device).contiguous(memory_format=self.memory_format)
        return ta, tb, height, width

    @torch.inference_mode()
    def encode_batch(self, a: np.ndarray, b: np.ndarray) -> EncodedBatch:
        """Pad and encode N x H x W float arrays in [0, 1]: the part of the work that no control changes."""
        ta, tb, height, width = self._padded(a, b)
        return EncodedBatch(self.model.encode(ta, tb), height, width)

    @torch.inference_mode()
    def gate_batch(self, a: np.ndarray, b: np.ndarray, bias: float = 0.0) -> np.ndarray:
        """The arbitration map of N x H x W inputs without encoding them (float32 N x H x W).

        The same values as ``decode_batch``'s map (the same padding, the gradients of the same inputs):
        where the experts' residual is scaled to 0 only this map still needs the network.
        """
        ta, tb, height, width = self._padded(a, b)
        gate = self.model.gate(self.model.arbiter.gradients(ta, tb), bias)
        return gate[:, 0, :height, :width].float().cpu().numpy().astype(np.float32, copy=False)

    @torch.inference_mode()
    def decode_batch(
        self,
        encoded: EncodedBatch,
        controls: FusionControls = FusionControls(),
        scales: tuple[float, ...] | None = None,
        maps: bool = True,
        residual: bool = False,
    ) -> SliceResult:
        """Fuse an encoded batch under the controls; cheap enough to repeat while a slider moves.

        ``scales``: the statistics of ``WDualMineNet.base_and_share`` (2 or 4 values) for every slice.
        """
        a = encoded.pair.a
        scale_tensor = None
        if scales is not None:
            scale_tensor = torch.tensor([scales], dtype=a.dtype, device=a.device).expand(a.shape[0], len(scales))
        out = self.model.decode(encoded.pair, controls, scale_tensor)

        def crop(t: torch.Tensor) -> np.ndarray:
            return t[:, 0, : encoded.height, : encoded.width].float().cpu().numpy().astype(np.float32, copy=False)

        result = SliceResult(fused=crop(out.fused), residual=crop(out.residual) if residual else None)
        if maps:
            result.maps = {name: crop(getattr(out, name)) for name in MAP_NAMES}
        return result

    @torch.inference_mode()
    def compose(
        self,
        a: np.ndarray,
        b: np.ndarray,
        residual: np.ndarray | None,
        controls: FusionControls = FusionControls(),
        scales: tuple[float, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fused slices and A's share from N x H x W inputs at any resolution and a residual of that size.

        The pixel-wise part (the reliability curve and the base) is computed here
        at the inputs' own resolution; only the experts' residual comes from the
        network's working size. Returns (fused, share), float32 N x H x W.
        """
        if not self.model.config.residual_to_average:
            raise ValueError("this model has no residual-to-average head; fuse at the working size instead")
        ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(1).to(self.device)
        tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)).unsqueeze(1).to(self.device)
        statistics = None
        if scales is not None:
            statistics = torch.tensor([scales], dtype=ta.dtype, device=ta.device).expand(ta.shape[0], len(scales))
        base, share, _ = self.model.base_and_share(ta, tb, controls, statistics)
        foreground = foreground_mask(ta, tb)
        r = torch.zeros_like(base) if residual is None else torch.from_numpy(np.ascontiguousarray(residual, dtype=np.float32)).unsqueeze(1).to(self.device)
        fused = compose_output(base, r * foreground, foreground, controls.detail_strength, needs_rolloff(controls))
        return fused[:, 0].float().cpu().numpy(), share[:, 0].float().cpu().numpy()

    def run_batch(
        self,
        a: np.ndarray,
        b: np.ndarray,
        controls: FusionControls = FusionControls(),
        scales: tuple[float, float] | None = None,
        maps: bool = True,
    ) -> SliceResult:
        """Fuse N x H x W float arrays in [0, 1] (one batch; no splitting)."""
        return self.decode_batch(self.encode_batch(a, b), controls, scales, maps)

    def fuse(
        self,
        a: np.ndarray,
        b: np.ndarray,
        controls: FusionControls = FusionControls(),
        scales: tuple[float, float] | None = None,
        maps: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> SliceResult:
        """Fuse N x H x W stacks in batches; halves the batch (then moves to the CPU) on GPU out-of-memory.

        ``progress(done, total)`` is called after each batch and ``cancelled()``
        is checked before each; a cancel raises Cancelled.
        """
        total = a.shape[0]
        parts: list[SliceResult] = []
        start = 0
        while start < total:
            if cancelled is not None and cancelled():
                raise Cancelled("fusion cancelled by the user")
            stop = min(total, start + self.batch_size)
            try:
                parts.append(self.run_batch(a[start:stop], b[start:stop], controls, scales, maps))
            except Exception as error:
                if not is_out_of_memory(error) or self.device.type == "cpu":
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.batch_size > 1:
                    self.batch_size //= 2
                    note = f"GPU out of memory; retrying with batch size {self.batch_size}"
                    log.warning(note)
                    self.notes.append(note)
                else:
                    self._fall_back_to_cpu(str(error).splitlines()[0])
                continue
            start = stop
            if progress is not None:
                progress(start, total)
        fused = np.concatenate([p.fused for p in parts]) if parts else np.zeros_like(a, dtype=np.float32)
        result = SliceResult(fused=fused)
        if maps and parts:
            result.maps = {name: np.concatenate([p.maps[name] for p in parts]) for name in MAP_NAMES}
        return result
