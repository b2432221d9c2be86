"""Every loss against numbers worked out with plain `math`, independently of torch's BCE."""
import math

import pytest
import torch

from chapter11.losses import LOSSES, clip_weights_, get_loss, gradient_penalty

CR = [1.0, -2.0, 0.5]  # D(x) logits / critic scores of a real batch
CF = [0.0, 3.0, -1.0]  # D(G(z)) of a fake batch


def softplus(v):
    return math.log1p(math.exp(v))


def bce(c, t):
    """-[t log σ(c) + (1 - t) log(1 - σ(c))] written with softplus: log σ(c) = -softplus(-c)."""
    return t * softplus(-c) + (1 - t) * softplus(c)


def mean(xs):
    return sum(xs) / len(xs)


def expected(name):
    """(d_loss, g_loss) for CR, CF from the formulas in shared/reference.md and the papers."""
    mr, mf = mean(CR), mean(CF)
    if name == "minimax":
        d = mean([bce(c, 1) for c in CR]) + mean([bce(c, 0) for c in CF])
        return d, mean([math.log(1 - 1 / (1 + math.exp(-c))) for c in CF])
    if name == "nonsaturating":
        d = mean([bce(c, 1) for c in CR]) + mean([bce(c, 0) for c in CF])
        return d, mean([-math.log(1 / (1 + math.exp(-c))) for c in CF])
    if name in ("wgan", "wgan-gp"):
        return mf - mr, -mf
    if name == "lsgan":
        return 0.5 * mean([(c - 1) ** 2 for c in CR]) + 0.5 * mean([c ** 2 for c in CF]), \
            0.5 * mean([(c - 1) ** 2 for c in CF])
    if name == "hinge":
        return mean([max(0, 1 - c) for c in CR]) + mean([max(0, 1 + c) for c in CF]), -mf
    if name == "rsgan":
        return mean([bce(r - f, 1) for r, f in zip(CR, CF)]), mean([bce(f - r, 1) for r, f in zip(CR, CF)])
    if name == "rasgan":
        d = 0.5 * (mean([bce(r - mf, 1) for r in CR]) + mean([bce(f - mr, 0) for f in CF]))
        g = 0.5 * (mean([bce(r - mf, 0) for r in CR]) + mean([bce(f - mr, 1) for f in CF]))
        return d, g
    if name == "ralsgan":
        d = 0.5 * (mean([(r - mf - 1) ** 2 for r in CR]) + mean([(f - mr + 1) ** 2 for f in CF]))
        g = 0.5 * (mean([(r - mf + 1) ** 2 for r in CR]) + mean([(f - mr - 1) ** 2 for f in CF]))
        return d, g
    if name == "rahinge":
        d = 0.5 * (mean([max(0, 1 - (r - mf)) for r in CR]) + mean([max(0, 1 + (f - mr)) for f in CF]))
        g = 0.5 * (mean([max(0, 1 + (r - mf)) for r in CR]) + mean([max(0, 1 - (f - mr)) for f in CF]))
        return d, g
    raise KeyError(name)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_values_match_hand_formulas(name):
    loss = get_loss(name)
    cr, cf = torch.tensor(CR, dtype=torch.float64), torch.tensor(CF, dtype=torch.float64)
    d, g = expected(name)
    assert loss.d_loss(cr, cf).item() == pytest.approx(d, rel=1e-9, abs=1e-12)
    assert loss.g_loss(cr, cf).item() == pytest.approx(g, rel=1e-9, abs=1e-12)


def test_every_chapter_loss_is_registered_with_its_constraint():
    assert set(LOSSES) == {"minimax", "nonsaturating", "wgan", "wgan-gp", "lsgan", "hinge",
                           "rsgan", "rasgan", "ralsgan", "rahinge"}
    assert get_loss("wgan").constraint == "clip"
    assert get_loss("wgan-gp").constraint == "gp"
    assert all(get_loss(n).constraint is None for n in LOSSES if not n.startswith("wgan"))


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="Valid names: minimax, nonsaturating"):
        get_loss("wgan_gp")


def test_label_smoothing_changes_only_the_real_target():
    cr, cf = torch.tensor(CR), torch.tensor(CF)
    d = get_loss("nonsaturating").d_loss(cr, cf, real_label=0.9).item()
    want = mean([bce(c, 0.9) for c in CR]) + mean([bce(c, 0) for c in CF])
    assert d == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="not for 'wgan'"):
        get_loss("wgan").d_loss(cr, cf, real_label=0.9)


def test_saturating_generator_gradient_vanishes_where_nonsaturating_does_not():
    """At a confidently rejected fake (logit -8): d/dCf log(1-σ) = -σ(Cf) ≈ 3e-4, d/dCf -log σ = σ - 1 ≈ -1."""
    for name, want in (("minimax", -1 / (1 + math.exp(8))), ("nonsaturating", 1 / (1 + math.exp(8)) - 1)):
        cf = torch.tensor([-8.0], dtype=torch.float64, requires_grad=True)
        get_loss(name).g_loss(None, cf).backward()
        assert cf.grad.item() == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("name", ["rsgan", "rasgan", "ralsgan", "rahinge"])
def test_relativistic_generator_losses_depend_on_real_outputs(name):
    """Catches a generator loss overwritten by a plain one, or a missing second term."""
    loss = get_loss(name)
    cf = torch.tensor(CF, dtype=torch.float64)
    cr = torch.tensor(CR, dtype=torch.float64, requires_grad=True)
    loss.g_loss(cr, cf).backward()
    assert cr.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pass real_out"):
        loss.g_loss(None, cf)


def test_relativistic_batch_means_are_not_detached():
    """m(Cf) inside the real term must carry gradient to the fakes (reference code behaviour)."""
    cr = torch.tensor([2.0, 2.0], dtype=torch.float64)
    cf = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
    # L_D = ½ mean((Cr - m(Cf) - 1)²) + ½ mean((Cf - m(Cr) + 1)²) with B = 2, m(Cf) = 0, m(Cr) = 2.
    # First term, through m(Cf):  ½ · mean(2(Cr - m(Cf) - 1)) · (-1/B) = ½ · 2 · 1 · (-½) = -½ for each Cf_i.
    # Second term, directly:      ½ · 2(Cf_i - 2 + 1) / B = (Cf_i - 1) / 2.
    # A detached m(Cf) would drop the -½.
    get_loss("ralsgan").d_loss(cr, cf).backward()
    want = [(-1 - 1) / 2 - 0.5, (1 - 1) / 2 - 0.5]
    assert cf.grad.tolist() == pytest.approx(want)


def test_rasgan_sign_convention():
    """A critic that scores reals far above fakes has a small D loss and a large G loss, not the reverse."""
    loss = get_loss("rasgan")
    cr, cf = torch.full((4,), 5.0), torch.full((4,), -5.0)
    assert loss.d_loss(cr, cf) < 1e-3
    assert loss.g_loss(cr, cf) > 5.0


def test_rsgan_needs_paired_batches():
    with pytest.raises(ValueError, match="same shape"):
        get_loss("rsgan").d_loss(torch.zeros(3), torch.zeros(4))


# ----------------------------------------------------------------------------- gradient penalty

class Linear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w  # (B,)


def test_gp_is_zero_for_unit_norm_linear_critic():
    real, fake = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    gp = gradient_penalty(Linear([0.6, 0.8]), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-12)


def test_gp_is_one_for_norm_two_linear_critic():
    real, fake = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    gp = gradient_penalty(Linear([1.2, 1.6]), real, fake)  # ‖w‖ = 2, (2 - 1)² = 1
    assert gp.item() == pytest.approx(1.0, abs=1e-12)


def test_gp_takes_per_sample_norms_on_4d_input():
    """Critic ½‖x‖²: ∇ = x̂ itself. With real = fake, x̂ = real for any α, so GP = mean_i (‖x_i‖ - 1)²."""
    critic = lambda x: 0.5 * (x ** 2).flatten(1).sum(1)  # noqa: E731
    real = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    norms = [math.sqrt(sum(v * v for v in real[i].flatten().tolist())) for i in range(5)]
    want = mean([(n - 1) ** 2 for n in norms])
    assert gradient_penalty(critic, real, real.clone()).item() == pytest.approx(want, rel=1e-10)


def test_gp_uses_one_alpha_per_sample():
    seen = {}

    def critic(x):
        seen["x"] = x.detach()
        return x.flatten(1).sum(1)

    gradient_penalty(critic, torch.ones(6, 2, 3, 3), torch.zeros(6, 2, 3, 3))
    x_hat = seen["x"]  # = α broadcast over each sample
    per_sample = x_hat.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))  # constant within a sample
    assert per_sample[:, 0].unique().numel() == 6  # different across samples
    assert ((per_sample >= 0) & (per_sample <= 1)).all()


def test_gp_gradient_reaches_critic_weights():
    """GP = (‖w‖ - 1)² for a linear critic, so ∂GP/∂w = 2(‖w‖ - 1) w / ‖w‖ (needs create_graph=True)."""
    critic = Linear([3.0, 4.0])  # ‖w‖ = 5
    gradient_penalty(critic, torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)).backward()
    assert critic.w.grad.tolist() == pytest.approx([2 * 4 * 3 / 5, 2 * 4 * 4 / 5])


def test_gp_passes_extra_args_and_rejects_mismatched_shapes():
    critic = lambda x, y: (x.sum(1) * (y + 1))  # noqa: E731  # ‖∇‖ = (y + 1)·√2 for 2-D x
    y = torch.tensor([0, 1])
    gp = gradient_penalty(critic, torch.zeros(2, 2), torch.ones(2, 2), y)
    want = mean([(math.sqrt(2) * (v + 1) - 1) ** 2 for v in (0, 1)])
    assert gp.item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="shapes must match"):
        gradient_penalty(critic, torch.zeros(2, 2), torch.zeros(3, 2), y)


def test_clip_weights_clamps_every_parameter_in_place():
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 1)
    before = [p.detach().clone() for p in net.parameters()]
    clip_weights_(net, 0.05)
    for old, p in zip(before, net.parameters()):
        assert p.abs().max() <= 0.05
        assert torch.equal(p, old.clamp(-0.05, 0.05))
    with pytest.raises(ValueError, match="positive"):
        clip_weights_(net, 0.0)
