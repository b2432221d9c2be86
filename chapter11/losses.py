"""Every GAN loss of the chapter as a pure function of the discriminator's raw outputs.

Notation: Cr = D(x) on a real batch and Cf = D(G(z)) on a fake batch. They are logits for
the probabilistic losses and unbounded critic scores for the Wasserstein ones; never
probabilities. BCE(c, t) is `binary_cross_entropy_with_logits(c, t)`, i.e.
-[t log σ(c) + (1 - t) log(1 - σ(c))] averaged over the batch, which stays finite where
log(sigmoid(c)) would underflow. m(·) is the batch mean; the relativistic losses do NOT
detach it, as in the relativistic GAN paper's reference code.

Each discriminator loss is minimised by the discriminator, each generator loss by the
generator. The losses that use BCE accept `real_label < 1` for one-sided label smoothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _bce(logits: Tensor, target: float) -> Tensor:
    """BCE(c, t) with a constant target t, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# --------------------------------------------------------------------------- standard GAN

def minimax_d(cr: Tensor, cf: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = BCE(Cr, 1) + BCE(Cf, 0) = -E log D(x) - E log(1 - D(G(z))), with D = σ(C)."""
    return _bce(cr, real_label) + _bce(cf, 0.0)


def minimax_g(cr: Tensor | None, cf: Tensor) -> Tensor:
    """Saturating generator loss L_G = E log(1 - D(G(z))) = -BCE(Cf, 0).

    Its gradient vanishes exactly when D confidently rejects the fakes (early training).
    """
    return -_bce(cf, 0.0)


def nonsaturating_g(cr: Tensor | None, cf: Tensor) -> Tensor:
    """Non-saturating generator loss L_G = -E log D(G(z)) = BCE(Cf, 1)."""
    return _bce(cf, 1.0)


# --------------------------------------------------------------------------- Wasserstein

def wasserstein_d(cr: Tensor, cf: Tensor) -> Tensor:
    """Critic loss L_D = m(Cf) - m(Cr): minimising it maximises the Kantorovich-Rubinstein dual."""
    return cf.mean() - cr.mean()


def wasserstein_g(cr: Tensor | None, cf: Tensor) -> Tensor:
    """Generator loss L_G = -m(Cf)."""
    return -cf.mean()


# --------------------------------------------------------------------------- LSGAN, hinge

def lsgan_d(cr: Tensor, cf: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = ½ m((Cr - 1)²) + ½ m(Cf²)   (Mao et al., targets a = 0, b = 1)."""
    return 0.5 * ((cr - real_label) ** 2).mean() + 0.5 * (cf ** 2).mean()


def lsgan_g(cr: Tensor | None, cf: Tensor) -> Tensor:
    """L_G = ½ m((Cf - 1)²)   (target c = 1)."""
    return 0.5 * ((cf - 1.0) ** 2).mean()


def hinge_d(cr: Tensor, cf: Tensor) -> Tensor:
    """L_D = m(relu(1 - Cr)) + m(relu(1 + Cf))."""
    return F.relu(1.0 - cr).mean() + F.relu(1.0 + cf).mean()


def hinge_g(cr: Tensor | None, cf: Tensor) -> Tensor:
    """L_G = -m(Cf)."""
    return -cf.mean()


# --------------------------------------------------------------------------- relativistic

def _paired(cr: Tensor, cf: Tensor) -> None:
    if cr.shape != cf.shape:
        raise ValueError(f"RSGAN compares real and fake samples pairwise, so both batches need the same "
                         f"shape; got {tuple(cr.shape)} and {tuple(cf.shape)}. Use equal batch sizes.")


def rsgan_d(cr: Tensor, cf: Tensor) -> Tensor:
    """L_D = BCE(Cr - Cf, 1): the probability that a real sample is more realistic than a fake one."""
    _paired(cr, cf)
    return _bce(cr - cf, 1.0)


def rsgan_g(cr: Tensor, cf: Tensor) -> Tensor:
    """L_G = BCE(Cf - Cr, 1)."""
    _paired(cr, cf)
    return _bce(cf - cr, 1.0)


def rasgan_d(cr: Tensor, cf: Tensor) -> Tensor:
    """L_D = ½[BCE(Cr - m(Cf), 1) + BCE(Cf - m(Cr), 0)]."""
    return 0.5 * (_bce(cr - cf.mean(), 1.0) + _bce(cf - cr.mean(), 0.0))


def rasgan_g(cr: Tensor, cf: Tensor) -> Tensor:
    """L_G = ½[BCE(Cr - m(Cf), 0) + BCE(Cf - m(Cr), 1)]."""
    return 0.5 * (_bce(cr - cf.mean(), 0.0) + _bce(cf - cr.mean(), 1.0))


def ralsgan_d(cr: Tensor, cf: Tensor) -> Tensor:
    """L_D = ½[m((Cr - m(Cf) - 1)²) + m((Cf - m(Cr) + 1)²)]."""
    return 0.5 * (((cr - cf.mean() - 1.0) ** 2).mean() + ((cf - cr.mean() + 1.0) ** 2).mean())


def ralsgan_g(cr: Tensor, cf: Tensor) -> Tensor:
    """L_G = ½[m((Cr - m(Cf) + 1)²) + m((Cf - m(Cr) - 1)²)]."""
    return 0.5 * (((cr - cf.mean() + 1.0) ** 2).mean() + ((cf - cr.mean() - 1.0) ** 2).mean())


def rahinge_d(cr: Tensor, cf: Tensor) -> Tensor:
    """L_D = ½[m(relu(1 - (Cr - m(Cf)))) + m(relu(1 + (Cf - m(Cr))))]."""
    return 0.5 * (F.relu(1.0 - (cr - cf.mean())).mean() + F.relu(1.0 + (cf - cr.mean())).mean())


def rahinge_g(cr: Tensor, cf: Tensor) -> Tensor:
    """L_G = ½[m(relu(1 + (Cr - m(Cf)))) + m(relu(1 - (Cf - m(Cr))))]."""
    return 0.5 * (F.relu(1.0 + (cr - cf.mean())).mean() + F.relu(1.0 - (cf - cr.mean())).mean())


# --------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class GANLoss:
    """A pair of losses plus the Lipschitz constraint the trainer must enforce for them.

    constraint: "clip" (weight clipping), "gp" (gradient penalty) or None.
    g_uses_real: the generator loss needs D(real) too (the relativistic losses), so the
    trainer must draw a real batch for the generator step.
    smoothing: the discriminator loss accepts a `real_label` target below 1.
    """

    name: str
    d_fn: Callable[..., Tensor]
    g_fn: Callable[..., Tensor]
    constraint: str | None = None
    g_uses_real: bool = False
    smoothing: bool = False

    def d_loss(self, real_out: Tensor, fake_out: Tensor, real_label: float = 1.0) -> Tensor:
        """Discriminator (critic) loss; see the formula in the docstring of `d_fn`."""
        if real_label != 1.0:
            if not self.smoothing:
                raise ValueError(f"Label smoothing (real_label={real_label}) is defined for losses with a "
                                 f"real target: {', '.join(n for n, l in LOSSES.items() if l.smoothing)}; "
                                 f"not for {self.name!r}. Set real_label=1.0.")
            return self.d_fn(real_out, fake_out, real_label=real_label)
        return self.d_fn(real_out, fake_out)

    def g_loss(self, real_out: Tensor | None, fake_out: Tensor) -> Tensor:
        """Generator loss; real_out may be None unless `g_uses_real`."""
        if self.g_uses_real and real_out is None:
            raise ValueError(f"The {self.name!r} generator loss compares fakes with reals: pass real_out.")
        return self.g_fn(real_out, fake_out)


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", minimax_d, minimax_g, smoothing=True),
    "nonsaturating": GANLoss("nonsaturating", minimax_d, nonsaturating_g, smoothing=True),
    "wgan": GANLoss("wgan", wasserstein_d, wasserstein_g, constraint="clip"),
    "wgan-gp": GANLoss("wgan-gp", wasserstein_d, wasserstein_g, constraint="gp"),
    "lsgan": GANLoss("lsgan", lsgan_d, lsgan_g, smoothing=True),
    "hinge": GANLoss("hinge", hinge_d, hinge_g),
    "rsgan": GANLoss("rsgan", rsgan_d, rsgan_g, g_uses_real=True),
    "rasgan": GANLoss("rasgan", rasgan_d, rasgan_g, g_uses_real=True),
    "ralsgan": GANLoss("ralsgan", ralsgan_d, ralsgan_g, g_uses_real=True),
    "rahinge": GANLoss("rahinge", rahinge_d, rahinge_g, g_uses_real=True),
}


def get_loss(name: str) -> GANLoss:
    """Look a loss up by name; see LOSSES for the names."""
    if isinstance(name, GANLoss):
        return name
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}. Valid names: {', '.join(LOSSES)}.") from None


# --------------------------------------------------------------------------- Lipschitz constraints

def gradient_penalty(critic: torch.nn.Module, real: Tensor, fake: Tensor, *critic_args,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP penalty  E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²],  x̂ = α x + (1 - α) x̃,  α ~ U(0, 1) per sample.

    One α per sample, broadcast over every non-batch dimension; the norm is taken over each
    sample's flattened gradient. create_graph=True keeps the penalty differentiable with
    respect to the critic's weights, so that adding it to the critic loss actually trains
    the critic. (The source chapter's version builds the penalty without that graph, so it
    never reaches the weights.) Extra `critic_args` (e.g. class labels) go to the critic.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty interpolates real and fake samples, so their shapes must match; "
                         f"got {tuple(real.shape)} and {tuple(fake.shape)}.")
    B = real.shape[0]
    alpha_shape = (B,) + (1,) * (real.dim() - 1)  # (B, 1, ..., 1): one α per sample
    alpha = torch.rand(alpha_shape, generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)  # same shape as real
    out = critic(x_hat, *critic_args)  # (B,) critic scores
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)  # same shape as x_hat
    norms = grad.flatten(1).norm(2, dim=1)  # (B,) per-sample ‖∇‖₂
    return ((norms - 1.0) ** 2).mean()


def clip_weights_(module: torch.nn.Module, clip_value: float) -> None:
    """Clamp every parameter of `module` into [-c, c] in place (the original WGAN's constraint).

    In place matters: the source chapter clamps a copy and throws it away, so its critic is
    never constrained.
    """
    if not clip_value > 0:
        raise ValueError(f"clip_value must be positive; got {clip_value}")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip_value, clip_value)
