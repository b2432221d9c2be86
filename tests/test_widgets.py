"""The widgets' logic, driven without a browser: every control changes the data behind the view."""
import math

import pytest
import torch

from chapter11.losses import LOSSES
from chapter11.models import DCGANGenerator, MLPGenerator
from chapter11.widgets import GANLab, LatentExplorer, lerp, slerp


@pytest.fixture
def lab():
    return GANLab(dist="ring8", loss="nonsaturating", width=32, batch_size=64, steps_per_update=2)


def test_step_d_changes_the_heat_map_but_not_the_fakes(lab):
    h0, f0 = lab.heatmap().clone(), lab.fake_points().clone()
    lab.step_d()
    assert not torch.equal(h0, lab.heatmap())
    assert torch.equal(f0, lab.fake_points())
    assert lab.d_steps == 1 and len(lab.curves["d_loss"]) == 1


def test_step_g_moves_the_fakes_but_not_the_heat_map(lab):
    h0, f0 = lab.heatmap().clone(), lab.fake_points().clone()
    lab.step_g()
    assert not torch.equal(f0, lab.fake_points())
    assert torch.equal(h0, lab.heatmap())


def test_arrows_point_where_the_generator_loss_decreases(lab):
    pts, dirs = lab.gradient_arrows(n=20)
    D, loss = lab.trainer.D, lab.trainer.loss
    with torch.no_grad():
        before = loss.g_loss(None, D(pts))
        after = loss.g_loss(None, D(pts + 1e-3 * dirs / dirs.norm(dim=1, keepdim=True).max()))
    assert after < before


def test_reset_restores_the_initial_state(lab):
    f0 = lab.fake_points().clone()
    lab.step(3)
    assert not torch.equal(f0, lab.fake_points())
    lab.reset()
    assert torch.equal(f0, lab.fake_points()) and lab.curves["g_loss"] == []


def test_coverage_meter_and_controls(lab):
    cov = lab.coverage()
    assert set(cov) == {"modes", "high_quality", "reverse_kl"}
    lab.set_learning_rates(lr_g=5e-4)
    assert lab.trainer.opt_g.param_groups[0]["lr"] == 5e-4
    lab.set_n_critic(3)
    d0 = lab.d_steps
    lab.step(1)
    assert lab.d_steps == d0 + 3
    assert GANLab(dist="swissroll", width=16, batch_size=32).coverage() is None


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_runs_and_renders(loss):
    lab = GANLab(dist="grid25", loss=loss, width=16, batch_size=32, n_critic=1)
    lab.step(1)
    png = lab.render()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_ui_buttons_drive_the_state(lab):
    ui = lab.ui()
    assert ui is not None
    first = lab._ui["view"].value
    lab._ui["step_d"].click()
    lab._ui["step_g"].click()
    assert lab.d_steps == 1 and lab.g_steps == 1
    assert lab._ui["view"].value != first  # a new picture
    lab._ui["loss"].value = "wgan-gp"  # a new loss resets the models
    assert lab.trainer.loss.name == "wgan-gp" and lab.g_steps == 0
    lab._ui["play"].value = 1  # one tick of the timer
    assert lab.g_steps == lab.steps_per_update


def test_slerp_keeps_the_radius_and_hits_the_endpoints():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, generator=g)
    b = torch.randn(64, generator=g)
    b = b / b.norm() * a.norm()  # equal norms
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    assert mid.norm().item() == pytest.approx(a.norm().item(), rel=1e-5)
    assert lerp(a, b, 0.5).norm() < 0.9 * a.norm()  # the straight line cuts inside the sphere
    # the angle to each endpoint is half the angle between them
    ang = lambda u, v: math.acos(float((u @ v) / (u.norm() * v.norm())))  # noqa: E731
    assert ang(a, mid) == pytest.approx(ang(a, b) / 2, rel=1e-4)


def test_latent_explorer_sliders_labels_and_interpolation():
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=16, image_size=28, width=8, num_classes=10)
    ex = LatentExplorer(G, n_sliders=4)
    img0 = ex.image()
    assert img0.shape == (1, 28, 28)
    ex.set_slider(0, 2.0)
    img1 = ex.image()
    assert not torch.equal(img0, img1)
    ex.label = 7
    assert not torch.equal(img1, ex.image())
    strip = ex.interpolation_strip(steps=5)
    assert strip.shape == (5, 1, 28, 28)
    ex.t = 1.0
    assert torch.allclose(strip[-1], ex.image(), atol=1e-5)
    z_a = ex.z_a.clone()
    ex.new_sample()
    assert not torch.equal(z_a, ex.z_a) and ex.offsets.abs().sum() == 0


def test_latent_explorer_ui_slider_changes_the_picture():
    torch.manual_seed(0)
    ex = LatentExplorer(MLPGenerator(latent_dim=10), n_sliders=3)
    ex.ui()
    before = ex._ui["view"].value
    ex._ui["sliders"][1].value = 1.5
    assert ex.offsets[1] == pytest.approx(1.5) and ex._ui["view"].value != before
    ex._ui["mode"].value = "linear"
    assert ex.mode == "linear"
    ex._ui["new"].click()
    assert ex._ui["sliders"][1].value == 0.0
