"""The method registry (trainer/methods.py): one table, one interface, the vocabulary's names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from divcolor_gui.core.vocabulary import METHOD_LABELS, TRAINABLE_METHODS
from trainer.compare import LoadedMethod
from trainer.methods import ALL_ROLES, METHODS, get_method


def test_the_registry_holds_exactly_the_named_methods():
    assert set(METHODS) == set(METHOD_LABELS)
    assert TRAINABLE_METHODS == tuple(n for n, m in METHODS.items() if m.train is not None)
    assert {m.label for m in METHODS.values()} == set(METHOD_LABELS.values())
    assert set(ALL_ROLES) == {"features", "vae", "mdn", "cvae", "cgan"}


@pytest.mark.parametrize("name", TRAINABLE_METHODS)
def test_every_role_builds_and_every_vae_has_one_interface(name):
    torch.manual_seed(0)
    method = METHODS[name]
    ab, grey = torch.rand(2, 2, 64, 64) * 0.2 - 0.1, torch.rand(2, 1, 64, 64) * 2 - 1
    for role in method.roles:
        net = method.new_net(role, "tiny").eval()
        if role in ("vae", "cvae"):
            assert net.needs_grey is (name != "ours")
            mu, logvar = net.encode(ab, grey)  # the same call whatever the VAE
            assert net.decode(mu, grey).shape == (2, 2, 64, 64)
            assert net(ab, grey)[0].shape == (2, 2, 64, 64)


def test_a_vae_that_needs_grey_says_so_when_it_gets_none():
    net = METHODS["ours-skip"].new_net("vae", "tiny").eval()
    with pytest.raises(ValueError, match="needs_grey"):
        net.decode(torch.zeros(1, net.cfg.vae.z_dim))


def test_unknown_and_untrainable_methods_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose from ours, ours-skip, cvae, cgan, per-pixel"):
        get_method("vqgan")
    with pytest.raises(ValueError, match="choose from ours, ours-skip, cvae, cgan$"):
        get_method("per-pixel", trainable=True)


def test_baselines_train_as_long_as_the_vae_unless_told():
    assert METHODS["cvae"].epochs_for("cvae", {"vae": 3}) == 3
    assert METHODS["cvae"].epochs_for("cvae", {"vae": 3, "cvae": 5}) == 5
    assert METHODS["ours"].epochs_for("mdn", {"mdn": 2, "vae": 7}) == 2


def test_reconstruction_uses_the_methods_own_vae(trained_model):
    from divcolor_gui.core.checkpoint import load_model

    bundle = load_model(trained_model.path)
    ours = LoadedMethod(METHODS["ours"], trained_model.path, bundle)
    ab, g64 = torch.rand(3, 2, 64, 64) * 0.2 - 0.1, torch.rand(3, 1, 64, 64)
    with torch.inference_mode():
        rec = ours.reconstruct(g64, ab)
        want = bundle.nets["vae"].decoder(bundle.nets["vae"].encoder(ab)[0])
    assert torch.allclose(rec, want)
    assert LoadedMethod(METHODS["cgan"], trained_model.path, bundle).reconstruct(g64, ab) is None


def test_diverse_colorizations_are_scored_as_rendered_fitted_to_the_gamut():
    """Evaluation scores the modes as the app renders them: each cell fitted to the gamut at
    its own lightness. A method whose every mode is one strong red, over a photo dark at the
    top and mid-grey below: the dark half keeps a dark red, the grey half more; both keep the hue."""
    import dataclasses

    from divcolor_gui.core import lab

    red = torch.tensor([0.6, 0.3]).view(1, 1, 2, 1, 1).expand(2, 3, 2, 64, 64)
    method = dataclasses.replace(METHODS["ours"], diverse=lambda *_: red.clone())
    g64 = torch.zeros(2, 1, 64, 64)
    g64[:, :, :32] = lab.l_to_net(torch.tensor(2.0))  # L 2 above, L 50 below
    out = LoadedMethod(method, Path("model.pt"), None).diverse(g64, g64, 3, 0, 0)
    assert out.shape == (2, 3, 2, 64, 64)
    chroma = out.norm(dim=2) * 128  # 86 units as decoded
    assert chroma[..., :32, :].max() < 15 and chroma[..., 32:, :].min() > 40
    hue = torch.atan2(out[:, :, 1], out[:, :, 0])
    assert torch.allclose(hue, torch.atan2(torch.tensor(0.3), torch.tensor(0.6)).expand_as(hue), atol=1e-4)
