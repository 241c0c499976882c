"""The recurrent core: a stack of LSTM layers stepped one time step at a time.

Zaremba et al.'s form, as papers 000 and 002 write it: (i, f, o, g) = (sigma, sigma, sigma, tanh)
of P_k [h_k(t-1); input], c = f * c + i * g, h = o * tanh(c). Dropout sits on the non-recurrent
connections only (each layer's input), never on h(t-1) -> h(t). Each layer is one nn.LSTMCell,
whose two GEMMs and fused gate arithmetic keep the step's matrix products large and batched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class StackedLSTM(nn.Module):
    def __init__(self, *, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.cells = nn.ModuleList(nn.LSTMCell(input_size if k == 0 else hidden, hidden)
                                   for k in range(layers))
        self.drop = nn.Dropout(dropout)

    def zero_state(self, B: int, device, dtype) -> list[tuple[Tensor, Tensor]]:
        z = torch.zeros(B, self.hidden, device=device, dtype=dtype)
        return [(z, z) for _ in range(self.layers)]

    def step(self, x: Tensor, state: list[tuple[Tensor, Tensor]]):
        """x (B, input) -> top hidden (B, M), new state (a list of (h, c) per layer)."""
        new = []
        inp = x
        for cell, (h, c) in zip(self.cells, state):
            h, c = cell(self.drop(inp), (h, c))
            new.append((h, c))
            inp = h
        return inp, new
