"""The error every checkpoint reader raises, and the bfloat16 widening they share."""
from __future__ import annotations

import numpy as np

from paddle_wwm.errors import PaddleWwmError


class CheckpointError(PaddleWwmError, ValueError):
    """A checkpoint file that cannot be read, or whose contents do not fit the model."""


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values given as their uint16 bit patterns, widened exactly to float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)
