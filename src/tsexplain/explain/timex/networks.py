"""TimeX's networks: the mask generator, the prototype bank and the readers of a model's embedding.

The mask generator follows the reference (`txai/models/mask_generators/maskgen.py` with the `encoder_pret` of
`bc_model.py`): each time step's values are joined with a sin/cos time encoding, a transformer encoder gives a
sequence embedding, a 2-layer transformer decoder reads the tokens against it, and a linear head gives the keep
probability of every (time, channel) entry. Training samples a hard 0/1 mask with the straight-through
Gumbel-softmax (torch's `F.gumbel_softmax(hard=True)`); the explanation is the probability itself.
The reference's `encoder_pret` is a (randomly initialised) TimeX transformer; torch's `nn.TransformerEncoder` stands
in for it here, so the generator does not depend on which black box is explained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.timex_transformer import TimeXTransformer, time_encoding


class MaskGenerator(nn.Module):
    """`x [B, C, T]` → keep probabilities `[B, C, T]` in (0, 1)."""

    def __init__(self, in_channels: int, seq_len: int, d_pe: int = 16, n_layers: int = 1, dim_feedforward: int = 16,
                 dropout: float = 0.1, n_dec_layers: int = 2, dec_dim_feedforward: int = 32, nhead: int = 1,
                 max_len: float = 10000.0) -> None:
        super().__init__()
        if d_pe % 2 or d_pe < 2:
            raise ValueError(f"explainer.module.generator.d_pe={d_pe} must be a positive even number (sin/cos halves).")
        d = in_channels + d_pe
        if d % nhead:
            raise ValueError(f"explainer.module.generator.nhead={nhead} must divide C + d_pe = {d}.")
        self.in_channels, self.d_pe, self.max_len = in_channels, d_pe, max_len
        enc = nn.TransformerEncoderLayer(d, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, n_layers, enable_nested_tensor=False)
        dec = nn.TransformerDecoderLayer(d, nhead, dec_dim_feedforward, batch_first=True)  # reference: dropout 0.1
        self.decoder = nn.TransformerDecoder(dec, n_dec_layers)
        # univariate: two logits and a softmax (keep vs drop); multivariate: one sigmoid per channel (as the reference)
        self.head = nn.Linear(d, 2 if in_channels == 1 else in_channels)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.constant_(self.head.bias, 0.01)
        self.register_buffer("pe", time_encoding(seq_len, d_pe, int(max_len)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        pe = self.pe if t == len(self.pe) else time_encoding(t, self.d_pe, int(self.max_len), x.device)
        tokens = torch.cat([x.transpose(1, 2), pe.to(x.dtype).expand(b, t, self.d_pe)], dim=-1)
        h = self.decoder(tgt=tokens, memory=self.encoder(tokens))
        logits = self.head(h)  # [B, T, 2 | C]
        p = logits.softmax(-1)[..., 1:] if self.in_channels == 1 else torch.sigmoid(logits)
        return p.transpose(1, 2)  # [B, C, T]


def sample_mask(p: torch.Tensor, tau: float, hard: bool = True) -> torch.Tensor:
    """A (straight-through) Gumbel-softmax sample of the keep/drop choice of each entry of `p`."""
    logits = torch.log(torch.stack([1 - p, p], dim=-1) + 1e-9)
    return F.gumbel_softmax(logits, tau=tau, hard=hard)[..., 1]


class Prototypes(nn.Module):
    """TimeX's landmarks: `n` learned embeddings; each masked-input embedding is replaced by its nearest one (cosine,
    a hard Gumbel-softmax choice at τ = 0.1), and the landmark must stay consistent with the black box's embedding."""

    def __init__(self, n: int, dim: int, tau: float = 0.1) -> None:
        super().__init__()
        self.tau = tau
        self.weight = nn.Parameter(torch.randn(n, dim))

    @torch.no_grad()
    def init_from(self, z: torch.Tensor) -> None:
        """Start from the black box's embeddings of (stratified) training samples, as the reference does."""
        self.weight.copy_(z[: len(self.weight)])

    def forward(self, z: torch.Tensor, detach: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The matched landmarks `[B, d]` and the index of each. `detach`: the reference's side assimilation (the
        choice does not train the surrogate, only the landmarks)."""
        q = F.normalize(z.detach() if detach else z, dim=-1)
        sim = q @ F.normalize(self.weight, dim=-1).T
        match = F.gumbel_softmax(sim.log_softmax(-1), tau=self.tau, hard=True)
        return match @ self.weight, match.argmax(-1)


def core_of(model: nn.Module) -> nn.Module:
    """The network a black box runs (`BlackBox.backbone`; any other module is its own)."""
    from tsexplain.models.blackbox import BlackBox

    return model.backbone if isinstance(model, BlackBox) else model


def find_head(model: nn.Module, layer: str | None) -> nn.Module:
    """The module whose *input* is read as the embedding: `layer` by name, else the last `nn.Linear`."""
    modules = dict(model.named_modules())
    if layer is not None:
        if layer not in modules:
            names = [n for n in modules if n][:20]
            raise ValueError(f"explainer.module.embedding_layer={layer!r} is not a module of {type(model).__name__}; "
                             f"use one of {names} (its input is the embedding) or null for the last nn.Linear.")
        return modules[layer]
    linears = [m for m in modules.values() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear head whose input TimeX could read as the "
                         "embedding; set explainer.module.embedding_layer to the name of its output layer.")
    return linears[-1]


@contextlib.contextmanager
def _captured_input(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The inputs `module` is called with inside the block (a forward hook, removed after)."""
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def embedding_reader(model: nn.Module, layer: str | None = None) -> Callable[[torch.Tensor], tuple]:
    """`read(x) -> (outputs [B, K], embedding [B, d])` for a network. TimeX's transformer: its pooled `embed()` (what
    the reference compares); any other: the input of its head (`layer`, else its last nn.Linear) via a forward hook,
    the penultimate features, flattened."""
    if isinstance(model, TimeXTransformer) and layer is None:
        def read_timex(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = model.embed(x)[0]
            return model.mlp(z), z
        return read_timex

    head = find_head(model, layer)

    def read(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _captured_input(head) as seen:
            out = model(x)
        if not seen:
            raise ValueError(f"the embedding layer {type(head).__name__} was not called by {type(model).__name__}'s "
                             "forward; set explainer.module.embedding_layer to a layer it calls.")
        return out, seen[-1].reshape(len(x), -1)
    return read
