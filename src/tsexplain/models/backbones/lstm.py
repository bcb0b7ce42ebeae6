"""`LSTMClassifier`: a (bi)directional LSTM over time with last-state or mean readout.

Note for explainers: LSTM gradients on GPU in eval mode need `torch.backends.cudnn.enabled = False`.
"""

from __future__ import annotations

import torch
from torch import nn

from tsexplain.models.backbones.base import check_seq_len
from tsexplain.models.backbones.layers import check_input


class LSTMClassifier(nn.Module):
    """`nn.LSTM` on `[B, T, C]`; readout "last" = final hidden state(s) of the top layer (both directions
    concatenated when bidirectional), "mean" = top-layer outputs averaged over time; then a Linear head."""

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        readout: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_seq_len("LSTMClassifier", seq_len, 2, "a time attribution over one step says nothing")
        if readout not in ("last", "mean"):
            raise ValueError(f"readout={readout!r} is unknown; use 'last' or 'mean'.")
        self.in_channels, self.readout = in_channels, readout
        self.n_dir = 2 if bidirectional else 1
        self.lstm = nn.LSTM(in_channels, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.n_dir * hidden_size, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, model="LSTMClassifier")
        out, (h_n, _) = self.lstm(x.transpose(1, 2))
        if self.readout == "mean":
            z = out.mean(1)
        else:  # h_n: [layers·dirs, B, H]; the last n_dir rows are the top layer's directions
            z = h_n[-self.n_dir:].transpose(0, 1).reshape(len(x), -1)
        return self.head(z)
