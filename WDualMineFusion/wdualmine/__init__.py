"""WDualMine: W-DUALMINE multimodal medical image fusion (engine; no Slicer imports)."""

__version__ = "0.3.0"
