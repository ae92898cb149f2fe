"""Choosing the torch device, with a plain-language reason when it is not the one asked for."""

from __future__ import annotations


import torch


DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(RuntimeError):
    """The requested device cannot be used."""


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(choice: str = "auto") -> torch.device:
    """Map a user choice (auto, cpu, cuda, cuda:N, mps) to a usable torch device.

    "auto" takes CUDA, then Apple MPS, then the CPU. An explicit GPU request that
    cannot be met raises DeviceError instead of silently running on the CPU.
    """
    choice = (choice or "auto").lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            built = "with" if torch.backends.cuda.is_built() else "without"
            raise DeviceError(
                f"CUDA was requested but no CUDA device is available (this torch {torch.__version__} is built {built} CUDA); "
                "use --device cpu or --device auto, or install a CUDA build of torch that matches the GPU driver"
            )
        device = torch.device(choice)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{choice} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device
    if choice == "mps":
        if not mps_available():
            raise DeviceError("Apple MPS was requested but is not available here; use --device cpu or --device auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def describe_device(device: torch.device) -> str:
    """One line for logs and the Slicer panel: what runs where."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"CUDA GPU {props.name} ({props.total_memory / 2**30:.1f} GiB), torch {torch.__version__}"
    if device.type == "mps":
        return f"Apple MPS, torch {torch.__version__}"
    return f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}"


def is_out_of_memory(error: BaseException) -> bool:
    """GPU or CPU memory exhausted (torch's CPU allocator raises a RuntimeError of its own wording)."""
    if isinstance(error, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
