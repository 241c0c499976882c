"""Mixed precision: ``--amp bf16`` (CPU and CUDA) or ``--amp fp16`` (CUDA, with a gradient
scaler). Matrix products run in the half type under ``torch.autocast``; what precision needs
stays in float32: the LSTM's gates, cell and hidden state (``models.lstm``), softmaxes and
losses (autocast's float32 list), the optimizer's weights.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from glimpse import GlimpseError
from glimpse.config import AMP_MODES as AMP  # declared with the setting


def check_amp(amp: str, device) -> None:
    if amp not in AMP:
        raise GlimpseError(f"--amp must be one of {', '.join(AMP)}, got '{amp}'")
    if amp == "fp16" and torch.device(device).type != "cuda":
        raise GlimpseError("--amp fp16 needs a CUDA device (its gradient scaler); on the CPU "
                           "use --amp bf16")


def autocast(amp: str, device):
    """The autocast context of ``amp`` on ``device`` (a no-op for "off")."""
    if amp == "off":
        return nullcontext()
    return torch.autocast(torch.device(device).type,
                          dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def scaler(amp: str, device):
    """fp16's gradient scaler (None otherwise: bf16 has float32's range)."""
    if amp != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)
