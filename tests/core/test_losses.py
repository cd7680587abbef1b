"""The paper's losses on tiny tensors (B=2, 2x4x4 fields) against explicit loops."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from divcolor_gui.core import lab, losses

B, H, W = 2, 4, 4


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def _true_field_on_bins(gen, b=B, h=H, w=W):
    """ab/128 fields whose pixels sit within 3 Lab units of known bin centres, so the
    bin of every pixel is known without calling the code: returns (field, bin index)."""
    idx = torch.randint(0, lab.N_BINS, (b, h, w), generator=gen)
    centres = torch.from_numpy(lab.AB_BINS)[idx]  # (b, h, w, 2)
    jitter = (torch.rand(b, h, w, 2, generator=gen) * 6 - 3).float()
    return ((centres + jitter) / 128).permute(0, 3, 1, 2).contiguous(), idx


def _rand(gen, *shape):
    return torch.rand(*shape, generator=gen) * 2 - 1


def hand_hist(pred, true, idx, w):
    total = 0.0
    for b in range(pred.shape[0]):
        for y in range(pred.shape[2]):
            for x in range(pred.shape[3]):
                sq = sum((true[b, c, y, x].item() - pred[b, c, y, x].item()) ** 2 for c in range(2))
                total += w[idx[b, y, x]].item() * sq
    return total / pred.shape[0]


def hand_l2(pred, true):
    return sum(((true[b] - pred[b]) ** 2).sum().item() for b in range(pred.shape[0])) / pred.shape[0]


def hand_mah(pred, true, P, var):
    """The paper's L_mah with explicit loops: sum_k (e . v_k)^2 / s_k^2 + ||e - sum_k (e . v_k) v_k||^2 / s_K^2."""
    Bn, D = pred.shape[0], P.shape[1]
    K = P.shape[0]
    total = 0.0
    for b in range(Bn):
        e = [(true[b] - pred[b]).flatten()[j].item() for j in range(D)]
        proj = [sum(e[j] * P[k, j].item() for j in range(D)) for k in range(K)]
        term = sum(proj[k] ** 2 / var[k].item() for k in range(K))
        resid = [e[j] - sum(proj[k] * P[k, j].item() for k in range(K)) for j in range(D)]
        term += sum(r * r for r in resid) / var[K - 1].item()
        total += term
    return total / Bn


def hand_grad(pred, true):
    total = 0.0
    Bn, C, Hh, Ww = pred.shape
    for b in range(Bn):
        for c in range(C):
            for y in range(Hh):
                for x in range(Ww):
                    if x + 1 < Ww:
                        dt = true[b, c, y, x + 1] - true[b, c, y, x]
                        dp = pred[b, c, y, x + 1] - pred[b, c, y, x]
                        total += (dt - dp).item() ** 2
                    if y + 1 < Hh:
                        dt = true[b, c, y + 1, x] - true[b, c, y, x]
                        dp = pred[b, c, y + 1, x] - pred[b, c, y, x]
                        total += (dt - dp).item() ** 2
    return total / Bn


def hand_kl(mu, logvar):
    total = 0.0
    for b in range(mu.shape[0]):
        for j in range(mu.shape[1]):
            m, lv = mu[b, j].item(), logvar[b, j].item()
            # KL(N(m, s^2) || N(0, 1)) = 0.5 (s^2 + m^2 - 1 - log s^2)
            total += 0.5 * (math.exp(lv) + m * m - 1 - lv)
    return total / mu.shape[0]


def test_hist_loss(gen):
    true, idx = _true_field_on_bins(gen)
    pred = _rand(gen, B, 2, H, W) * 0.5
    w = torch.rand(lab.N_BINS, generator=gen) * 3 + 0.1
    got = losses.hist_loss(pred, true, w).item()
    assert got == pytest.approx(hand_hist(pred, true, idx, w), rel=1e-5)


def test_pixel_weights_look_up_the_true_colours_bin(gen):
    true, idx = _true_field_on_bins(gen)
    w = torch.arange(lab.N_BINS, dtype=torch.float32)
    torch.testing.assert_close(losses.pixel_weights(true, w), idx.float())


def test_l2_loss(gen):
    pred, true = _rand(gen, B, 2, H, W), _rand(gen, B, 2, H, W)
    assert losses.l2_loss(pred, true).item() == pytest.approx(hand_l2(pred, true), rel=1e-5)
    assert losses.l2_loss(true, true).item() == 0.0


def _orthonormal_rows(gen, k, D):
    Q, _ = torch.linalg.qr(torch.randn(D, k, generator=gen, dtype=torch.float64))
    return Q.T.float().contiguous()  # (k, D)


def test_mah_loss(gen):
    D, K = 2 * H * W, 5
    P = _orthonormal_rows(gen, K, D)
    torch.testing.assert_close(P @ P.T, torch.eye(K), atol=1e-5, rtol=0)
    var = torch.tensor([2.0, 1.0, 0.5, 0.3, 0.1])
    pred, true = _rand(gen, B, 2, H, W), _rand(gen, B, 2, H, W)
    got = losses.mah_loss(pred, true, P, var).item()
    assert got == pytest.approx(hand_mah(pred, true, P, var), rel=1e-4)


def test_mah_loss_with_a_full_basis_is_the_whitened_norm(gen):
    """With K = D there is no residual: the loss is e^T Sigma^-1 e for Sigma = P^T diag(var) P."""
    D = 2 * 2 * 2
    P = _orthonormal_rows(gen, D, D)
    var = torch.linspace(2.0, 0.2, D)
    pred, true = _rand(gen, 1, 2, 2, 2), _rand(gen, 1, 2, 2, 2)
    e = (true - pred).flatten().double()
    sigma = P.double().T @ torch.diag(var.double()) @ P.double()
    want = (e @ torch.linalg.solve(sigma, e)).item()
    assert losses.mah_loss(pred, true, P, var).item() == pytest.approx(want, rel=1e-4)


def test_grad_loss(gen):
    pred, true = _rand(gen, B, 2, H, W), _rand(gen, B, 2, H, W)
    assert losses.grad_loss(pred, true).item() == pytest.approx(hand_grad(pred, true), rel=1e-5)
    # A constant offset has the same gradients: zero loss.
    assert losses.grad_loss(true + 0.3, true).item() == pytest.approx(0.0, abs=1e-10)


def test_kl_loss(gen):
    mu = torch.randn(3, 5, generator=gen)
    logvar = torch.randn(3, 5, generator=gen)
    assert losses.kl_loss(mu, logvar).item() == pytest.approx(hand_kl(mu, logvar), rel=1e-5)
    assert losses.kl_loss(torch.zeros(2, 4), torch.zeros(2, 4)).item() == 0.0  # N(0, I) itself


def test_vae_losses_weighted_total(gen):
    true, idx = _true_field_on_bins(gen)
    pred = _rand(gen, B, 2, H, W) * 0.5
    mu, logvar = torch.randn(B, 3, generator=gen), torch.randn(B, 3, generator=gen) * 0.5
    P = _orthonormal_rows(gen, 4, 2 * H * W)
    var = torch.tensor([1.0, 0.5, 0.25, 0.125])
    w = torch.rand(lab.N_BINS, generator=gen) + 0.5
    stats = SimpleNamespace(bin_weights=w, pca_components=P, pca_variances=var)

    terms = losses.vae_losses(pred, true, mu, logvar, stats, losses.LossWeights())
    h, m, g, k = (
        hand_hist(pred, true, idx, w),
        hand_mah(pred, true, P, var),
        hand_grad(pred, true),
        hand_kl(mu, logvar),
    )
    assert set(terms) == {"hist", "mah", "grad", "kl", "loss"}
    assert terms["loss"].item() == pytest.approx(h + 0.1 * m + 1e-3 * g + 1e-2 * k, rel=1e-4)

    only_l2 = losses.LossWeights(hist=0, mah=0, grad=0, l2=1.0)
    terms = losses.vae_losses(pred, true, mu, logvar, stats, only_l2)
    assert set(terms) == {"l2", "kl", "loss"}
    assert terms["loss"].item() == pytest.approx(hand_l2(pred, true) + 1e-2 * k, rel=1e-4)


def test_loss_weights_defaults_are_the_papers():
    w = losses.LossWeights()
    assert (w.hist, w.mah, w.grad, w.kl, w.l2) == (1.0, 0.1, 1e-3, 1e-2, 0.0)


def hand_mdn(z, logits, means, variance):
    total = 0.0
    Bn, K, _ = means.shape
    for b in range(Bn):
        d2 = [((z[b] - means[b, i]) ** 2).sum().item() for i in range(K)]
        m = int(np.argmin(d2))
        lse = math.log(sum(math.exp(logits[b, i].item()) for i in range(K)))
        log_pi_m = logits[b, m].item() - lse
        total += -log_pi_m + d2[m] / (2 * variance)
    return total / Bn


def test_mdn_loss(gen):
    z = torch.randn(3, 4, generator=gen)
    logits = torch.randn(3, 8, generator=gen)
    means = torch.randn(3, 8, 4, generator=gen)
    got = losses.mdn_loss(z, logits, means, 0.1).item()
    assert got == pytest.approx(hand_mdn(z, logits, means, 0.1), rel=1e-5)


def test_mdn_loss_picks_the_closest_component_not_the_heaviest(gen):
    z = torch.zeros(1, 2)
    means = torch.tensor([[[5.0, 0.0], [0.1, 0.0]]])  # component 1 is closest
    logits = torch.tensor([[10.0, 0.0]])  # component 0 is far heavier
    log_pi1 = 0.0 - math.log(math.exp(10.0) + 1.0)
    want = -log_pi1 + 0.01 / (2 * 0.1)
    assert losses.mdn_loss(z, logits, means, 0.1).item() == pytest.approx(want, rel=1e-5)


def test_colornet_loss(gen):
    """Logits at half the field's size: the target is the bin of each 2x2 block's mean
    colour; the loss is the rebalanced per-pixel cross-entropy, averaged."""
    h = w = 2
    block_true, idx = _true_field_on_bins(gen, B, h, w)
    true = block_true.repeat_interleave(2, 2).repeat_interleave(2, 3)  # (B, 2, 4, 4): constant 2x2 blocks
    logits = torch.randn(B, lab.N_BINS, h, w, generator=gen) * 2
    wts = torch.rand(lab.N_BINS, generator=gen) + 0.2
    total, n = 0.0, 0
    for b in range(B):
        for y in range(h):
            for x in range(w):
                q = idx[b, y, x].item()
                lse = torch.logsumexp(logits[b, :, y, x].double(), 0).item()
                total += wts[q].item() * (lse - logits[b, q, y, x].item())
                n += 1
    got = losses.colornet_loss(logits, true, wts).item()
    assert got == pytest.approx(total / n, rel=1e-5)


def _as_field(z: torch.Tensor, r: int) -> torch.Tensor:
    """A stand-in decoder: each 4-d latent is a 2x1x2 colour field (r is unused)."""
    return z.view(-1, 2, 1, 2)


def test_decoded_colour_loss_picks_the_best_decoded_component():
    """The winner is the component whose colours are nearest in L1: here not the one
    nearest in squared distance (the paper's choice). The term is its summed L1 error,
    and only its mean moves."""
    ab = torch.zeros(1, 2, 1, 2)
    means = torch.tensor([[
        [0.5, 0.5, 0.5, 0.5],  # L1 2.0, squared 1.0
        [1.2, 0.0, 0.0, 0.0],  # L1 1.2, squared 1.44: the winner
        [3.0, 0.0, 0.0, 0.0],
    ]], requires_grad=True)  # fmt: skip
    loss, m = losses.decoded_colour_loss(ab, means, _as_field)
    assert m.tolist() == [1]
    assert loss.item() == pytest.approx(1.2, rel=1e-6)
    loss.backward()
    assert means.grad[0, 1].abs().sum() > 0
    assert means.grad[0, [0, 2]].abs().sum() == 0


def test_decoded_colour_loss_averages_over_the_batch(gen):
    ab = torch.randn(3, 2, 1, 2, generator=gen)
    means = torch.randn(3, 8, 4, generator=gen)
    loss, m = losses.decoded_colour_loss(ab, means, _as_field)
    want = 0.0
    for b in range(3):
        errs = [(means[b, k].view(2, 1, 2) - ab[b]).abs().sum().item() for k in range(8)]
        assert m[b].item() == int(np.argmin(errs))
        want += min(errs)
    assert loss.item() == pytest.approx(want / 3, rel=1e-5)


def test_a_linear_decoder_fits_an_affine_decoder_exactly(gen):
    A, b = torch.randn(4, 8, generator=gen), torch.randn(8, generator=gen)
    z = torch.randn(40, 4, generator=gen)
    proxy = losses.LinearDecoder(z, (z @ A + b).view(-1, 2, 1, 4))
    z2 = torch.randn(5, 4, generator=gen)
    assert torch.allclose(proxy(z2), (z2 @ A + b).view(-1, 2, 1, 4), atol=1e-4)


def test_decoded_colour_loss_with_a_proxy_decodes_only_the_winners(gen):
    """The "winner" loss: the proxy chooses (here it is exact, so it chooses as the decoder
    would), and the decoder then sees only one latent per photo."""
    ab = torch.randn(3, 2, 1, 2, generator=gen)
    means = torch.randn(3, 8, 4, generator=gen)
    calls = []

    def decode(z, r):
        calls.append(len(z))
        return _as_field(z, r)

    proxy = losses.LinearDecoder(means.reshape(-1, 4), _as_field(means.reshape(-1, 4), 1))
    want, m_want = losses.decoded_colour_loss(ab, means, _as_field)
    got, m_got = losses.decoded_colour_loss(ab, means, decode, proxy)
    assert torch.equal(m_got, m_want) and got.item() == pytest.approx(want.item(), rel=1e-5)
    assert calls == [3]


def test_shared_cast_loss_chooses_by_the_colours_with_the_cast_set_aside():
    """Component 0 has the truth's pattern under a strong cast, component 1 the truth's cast
    without its pattern: decoded_colour_loss picks 1 (nearer in plain L1), the shared-cast
    loss picks 0, whose colours are right once the cast is set aside."""
    ab = torch.tensor([[[[0.4, -0.4]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): a red-green pattern, no cast
    means = torch.tensor([[
        [1.4, 0.6, 1.0, 1.0],  # the pattern, shifted by +1 in both channels
        [0.0, 0.0, 0.0, 0.0],  # grey: the right cast, no pattern
    ]])  # fmt: skip
    proxy = losses.LinearDecoder(means.reshape(-1, 4), _as_field(means.reshape(-1, 4), 1))
    assert losses.decoded_colour_loss(ab, means, _as_field)[1].tolist() == [1]
    assert losses.shared_cast_loss(ab, means, _as_field, proxy)[1].tolist() == [0]


def test_shared_cast_loss_pulls_every_cast_towards_the_photos(gen):
    """The term is the winner's summed L1 plus the cast weight times the pixel count times the
    components' mean L1 distance of their casts from the truth's; every component's mean
    moves, each towards the truth's cast."""
    ab = torch.randn(2, 2, 1, 2, generator=gen)
    means = torch.randn(2, 5, 4, generator=gen)
    A, b = torch.randn(4, 4, generator=gen), torch.randn(4, generator=gen)
    decode = lambda z, r: (z @ A + b).view(-1, 2, 1, 2)  # noqa: E731 (an affine decoder: the proxy is exact)
    z_fit = torch.randn(64, 4, generator=gen)
    proxy = losses.LinearDecoder(z_fit, decode(z_fit, 1))
    fields = decode(means.reshape(-1, 4), 1).view(2, 5, 2, 1, 2)
    truth_cast = ab.mean((-2, -1))
    for weight in (1.0, 0.5):  # the weight scales the cast term alone
        loss, m = losses.shared_cast_loss(ab, means, decode, proxy, weight)
        want = 0.0
        for i in range(2):
            uncast = fields[i] - fields[i].mean((-2, -1), keepdim=True) + truth_cast[i, :, None, None]
            assert m[i].item() == int((uncast - ab[i]).abs().flatten(1).mean(1).argmin())
            want += (fields[i, m[i]] - ab[i]).abs().sum().item()
            casts_off = (fields[i].mean((-2, -1)) - truth_cast[i]).abs().sum(-1).mean().item()
            want += weight * 2 * casts_off  # 2 pixels
        assert loss.item() == pytest.approx(want / 2, rel=1e-4)

    # One step down the cast term alone brings every component's cast nearer the truth's.
    means = means.clone().requires_grad_(True)
    loss = losses.shared_cast_loss(ab, means, lambda z, r: decode(z, r).detach() * 0, proxy)[0]
    loss.backward()
    with torch.no_grad():
        moved = means - 1e-3 * means.grad
        before = (proxy.cast(means.reshape(-1, 4)).view(2, 5, 2) - truth_cast[:, None]).abs().sum(-1)
        after = (proxy.cast(moved.reshape(-1, 4)).view(2, 5, 2) - truth_cast[:, None]).abs().sum(-1)
    assert (after < before).all()
