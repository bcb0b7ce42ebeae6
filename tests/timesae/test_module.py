"""TimeSAEModule: frozen black box, NaN guard, memory guard, output-shape check, backbones, unit-norm decoder."""

import functools

import lightning as L
import pytest
import torch
from torch import nn

from tsexplain.data.meta import DataMeta
from tsexplain.explain.timesae import networks
from tsexplain.explain.timesae.concepts import ConceptDecoder, cace, tuple_products
from tsexplain.explain.timesae.module import TimeSAEModule, estimate_memory_bytes
from tsexplain.explain.timesae.sparsity import TopK

SMALL = functools.partial(networks.TCNSEEncoder, hidden=16, n_blocks=1, tcn_channels=4, levels=2)


def _fit(module, dm, epochs=1):
    module.set_data_stats(dm.splits["train"][0])
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    return trainer


def test_black_box_unchanged_and_gets_no_gradient(blackbox, dm):
    before = {k: v.clone() for k, v in blackbox.state_dict().items()}
    m = TimeSAEModule(blackbox, encoder=SMALL, r=0.5)
    assert not any(p is q for p in m.parameters() for q in blackbox.parameters())
    assert not any(k.startswith("_blackbox") or "backbone" in k for k in m.state_dict())
    _fit(m, dm)
    assert all(torch.equal(before[k], v) for k, v in blackbox.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in blackbox.parameters())
    assert not blackbox.training
    # gradients do flow *through* f to the SAE
    m.train()
    terms, _ = m.compute_terms(dm.splits["train"][0][:8])
    terms["fid"].backward()
    assert m.encoder.head[0].weight.grad.abs().sum() > 0


def test_nan_guard_names_step_and_terms(blackbox, dm):
    m = TimeSAEModule(blackbox, encoder=SMALL, r=0.5)
    x = dm.splits["train"][0][:8].clone()
    x[0, 0, 3] = float("nan")
    with pytest.raises(RuntimeError, match=r"non-finite.*step 0.*rec=nan.*fid="):
        m.training_step({"x": x}, 0)


def test_memory_estimate_rejects_absurd_r(blackbox):
    with pytest.raises(ValueError, match=r"d=2400000 .*r=100000.*C=1, T=24.*smaller explainer.module.r"):
        TimeSAEModule(blackbox, encoder=SMALL, r=1e5)
    assert estimate_memory_bytes(1, 24, 38, 128, 2, 64, 4) < 4 * 1024**3


class _Vector(nn.Module):
    def forward(self, x):
        return x.mean((1, 2))  # [B] instead of [B, K]


def test_black_box_output_shape_checked():
    meta = DataMeta(name="t", task="regression", n_channels=1, seq_len=24, n_outputs=1)
    with pytest.raises(ValueError, match=r"\[B, K\].*returned \(2,\)"):
        TimeSAEModule(_Vector(), meta=meta, encoder=SMALL)


@pytest.mark.parametrize("enc", [networks.MLPEncoder, networks.CNNEncoder, networks.TCNEncoder,
                                 networks.TCNSEEncoder])
def test_backbones_shapes_and_mirrored_decoders(enc):
    e = enc(in_channels=3, seq_len=20, d_latent=11, hidden=16, n_blocks=2, tcn_channels=4, levels=2)
    d = e.make_decoder(3, 20, 11)
    assert type(d) is enc.decoder_cls
    z = e(torch.randn(5, 3, 20))
    assert z.shape == (5, 11) and d(z).shape == (5, 3, 20)
    assert networks.count_parameters(e) == sum(p.numel() for p in e.parameters())
    has_se = any(isinstance(mod, networks.SqueezeExcite) for mod in e.modules())
    assert has_se == (enc is networks.TCNSEEncoder)


def test_causal_tcn_ignores_the_future_and_same_padding_does_not():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 30)
    x2 = x.clone()
    x2[..., 20:] += 5.0
    for causal in (True, False):
        stack = networks.temporal_stack(2, 4, 3, 3, causal, True, True, True).eval()
        same_past = torch.allclose(stack(x)[..., :20], stack(x2)[..., :20])
        assert same_past == causal


def test_decoder_columns_unit_norm_after_a_step_with_topk(blackbox, dm):
    torch.manual_seed(0)
    m = TimeSAEModule(blackbox, encoder=SMALL, sparsity=functools.partial(TopK, k=3), r=0.5)
    with torch.no_grad():
        m.decoder.atoms[0].mul_(3.0)
    _fit(m, dm)
    for a in m.decoder.atoms:
        assert torch.allclose(a.norm(dim=0), torch.ones(a.shape[1]), atol=1e-5)
    assert len(m.firing_history) == 1 and m.firing_history[0].shape == (m.d_latent,)


def test_concept_decoder_terms_and_cace():
    torch.manual_seed(0)
    dec = ConceptDecoder(5, 2, 6, order=2).eval()
    c = torch.relu(torch.randn(4, 5))
    assert torch.equal(tuple_products(c, 2), c[:, :4] * c[:, 1:])
    a1, a2 = dec.atoms[0], dec.atoms[1]
    expected = dec.psi0.reshape(1, -1) + c @ a1.t() + tuple_products(c, 2) @ a2.t()
    assert torch.allclose(dec(c), expected.reshape(4, 2, 6), atol=1e-6)
    first_order = (dec.psi0.reshape(1, -1) + c @ a1.t()).reshape(4, 2, 6)
    assert torch.allclose(dec.contributions(c).sum(1) + dec.psi0, first_order, atol=1e-6)
    assert (dec.saliency(c) >= 0).all()
    # closing every gate removes the concept terms
    with torch.no_grad():
        for g in dec.gate_logits:
            g.fill_(-5.0)
    assert torch.allclose(dec(c), dec.psi0.expand(4, 2, 6))
    # CaCE: a concept inactive everywhere has zero effect; f depends on concept 1 only
    c[:, 3] = 0.0
    c[:, 1] = 1.0
    eff = cace(lambda z: z, lambda z: z[:, 1:2] * 2.0, c)
    assert eff.shape == (5, 1)
    assert eff[3].item() == 0.0 and eff[0].item() == 0.0 and eff[1].item() == pytest.approx(-2.0)
