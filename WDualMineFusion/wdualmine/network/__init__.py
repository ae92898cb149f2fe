"""The W-DUALMINE fusion network, one component per module."""

from .model import SIZE_MULTIPLE, EncodedPair, FusionOutput, ModelConfig, WDualMineNet, count_parameters

__all__ = ["SIZE_MULTIPLE", "EncodedPair", "FusionOutput", "ModelConfig", "WDualMineNet", "count_parameters"]
