r"""Link decoders: dot product and Hadamard MLP, their broadcasting, scoring from node ids in
chunks, and the builder."""

from __future__ import annotations

import pytest
import torch

from leading.graph.link_decoder import (
    DECODERS,
    DotProductDecoder,
    LinkDecoder,
    MLPDecoder,
    build_link_decoder,
)

N, D = 12, 5


@pytest.fixture
def z() -> torch.Tensor:
    return torch.randn(N, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def make(kind: str) -> LinkDecoder:
    torch.manual_seed(0)
    return build_link_decoder(kind, D, hidden_channels=7).double().eval()


def pairs(seed: int = 1, m: int = 9, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, N, (m,), generator=g)
    dst = torch.randint(0, N, (m,) if k is None else (m, k), generator=g)
    return src, dst


def test_registry_and_builder():
    assert DECODERS == ("dot", "mlp")
    assert isinstance(build_link_decoder("dot", D), DotProductDecoder)
    mlp = build_link_decoder("mlp", D, hidden_channels=7, dropout=0.25)
    assert isinstance(mlp, MLPDecoder)
    assert mlp.mlp.in_channels == D and mlp.mlp.hidden_channels == 7
    assert mlp.mlp.out_channels == 1 and mlp.mlp.dropout == 0.25


def test_unknown_decoder_raises():
    with pytest.raises(ValueError, match=r"unknown link decoder 'cosine'.*\('dot', 'mlp'\)"):
        build_link_decoder("cosine", D)


def test_dot_decoder_is_the_inner_product(z):
    dec = make("dot")
    src, dst = pairs()
    ref = torch.stack([torch.dot(z[u], z[v]) for u, v in zip(src, dst, strict=True)])
    out = dec(z[src], z[dst])
    assert out.shape == (src.numel(),)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    assert torch.equal(out, (z[src] * z[dst]).sum(-1))
    assert list(dec.parameters()) == []
    dec.reset_parameters()  # a no-op, but callable like the others'


@pytest.mark.parametrize("kind", DECODERS)
def test_scores_shape_and_broadcasting(z, kind):
    dec = make(kind)
    src, dst = pairs(k=4)
    out = dec(z[src].unsqueeze(1), z[dst])
    assert out.shape == (src.numel(), 4)
    for i in range(src.numel()):  # row i scores source i against its 4 candidates
        torch.testing.assert_close(
            out[i], dec(z[src[i]].expand(4, D), z[dst[i]]), atol=1e-12, rtol=0
        )
    assert dec(z[0], z[1]).shape == ()


@pytest.mark.parametrize("kind", DECODERS)
def test_both_decoders_are_symmetric(z, kind):
    # the docstring: the Hadamard product makes the MLP decoder symmetric in u, v
    dec = make(kind)
    src, dst = pairs()
    assert torch.equal(dec(z[src], z[dst]), dec(z[dst], z[src]))


def test_mlp_decoder_is_the_mlp_of_the_hadamard_product(z):
    dec = make("mlp")
    src, dst = pairs()
    had = z[src] * z[dst]
    lin0, lin1 = dec.mlp.lins
    ref = (torch.relu(had @ lin0.weight.T + lin0.bias) @ lin1.weight.T + lin1.bias).squeeze(-1)
    torch.testing.assert_close(dec(z[src], z[dst]), ref, atol=1e-12, rtol=0)
    # not a function of the inner product alone (it is no dot decoder in disguise)
    assert not torch.allclose(dec(z[src], z[dst]), make("dot")(z[src], z[dst]))


def test_mlp_decoder_reset_parameters_changes_weights():
    dec = make("mlp")
    before = [p.clone() for p in dec.parameters()]
    torch.manual_seed(42)
    dec.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, dec.parameters(), strict=True))


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("chunk_size", [1, 3, 4, 1 << 20])
def test_score_equals_forward_on_gathered_rows(z, kind, chunk_size):
    dec = make(kind)
    src, dst = pairs(m=10)
    out = dec.score(z, src, dst, chunk_size=chunk_size)
    assert out.shape == (10,)
    torch.testing.assert_close(out, dec(z[src], z[dst]), atol=1e-12, rtol=0)

    src, dst = pairs(m=10, k=3)
    out = dec.score(z, src, dst, chunk_size=chunk_size)
    assert out.shape == (10, 3)
    torch.testing.assert_close(out, dec(z[src].unsqueeze(1), z[dst]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", DECODERS)
def test_score_empty(z, kind):
    dec = make(kind)
    empty = torch.empty(0, dtype=torch.long)
    assert dec.score(z, empty, empty).shape == (0,)
    assert dec.score(z, empty, empty.view(0, 5)).shape == (0, 5)


def test_score_keeps_the_gradient(z):
    dec = make("mlp")
    zz = z.clone().requires_grad_()
    src, dst = pairs(k=2)
    dec.score(zz, src, dst, chunk_size=2).sum().backward()
    touched = torch.zeros(N, dtype=torch.bool)
    touched[src] = True
    touched[dst.reshape(-1)] = True
    assert (zz.grad.abs().sum(-1) > 0).eq(touched).all()
    assert all(p.grad is not None for p in dec.parameters())


def test_score_rejects_mismatched_ids(z):
    dec = make("dot")
    with pytest.raises(ValueError, match="4 sources but 3 destinations"):
        dec.score(z, torch.arange(4), torch.arange(3))
    with pytest.raises(ValueError, match=r"expected destinations \[n\] or \[n, K\] with n = 4"):
        dec.score(z, torch.arange(4), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="expected destinations"):
        dec.score(z, torch.arange(4), torch.zeros(4, 2, 1, dtype=torch.long))
