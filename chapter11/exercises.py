"""Checked exercises for the notebooks.

A notebook gives a stub that raises NotImplementedError and then calls `check("name", fn)`.
The checker runs the exercise's stored cases through the learner's function and through a
reference implementation, and prints "passed", or the first failing input with the expected
and actual values. An untouched stub is recognised and named as such.

Reference answers come from the package's tested functions where they exist (losses, penalty,
metrics), or from the small functions below, which tests check against hand-worked values.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import losses, metrics


# ----------------------------------------------------------------------------- reference answers

def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), from densities evaluated at the same points."""
    return p_data / (p_data + p_g)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = Σ p log(p / q) for discrete distributions (0 log 0 = 0)."""
    return torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p)).sum()


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½(p + q); at most log 2 (disjoint supports)."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int = 0) -> int:
    """O = (I − 1)·s − 2p + k + output_padding."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x̂ = α x + (1 − α) x̃ with one α per sample, broadcast over the other dimensions."""
    return alpha.view(-1, *([1] * (real.dim() - 1))) * real + (1 - alpha.view(-1, *([1] * (real.dim() - 1)))) * fake


def one_hot_planes(labels: torch.Tensor, num_classes: int, size: int) -> torch.Tensor:
    """(B,) labels → (B, K, size, size): plane k is all ones where the label is k."""
    return F.one_hot(labels, num_classes).float()[:, :, None, None].expand(-1, -1, size, size)


def roc_auc(scores: torch.Tensor, is_anomaly: torch.Tensor) -> float:
    """Probability that a random anomaly scores above a random normal sample (ties count ½)."""
    pos, neg = scores[is_anomaly.bool()], scores[~is_anomaly.bool()]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


# ----------------------------------------------------------------------------- the stored cases

@dataclass
class Exercise:
    reference: Callable
    cases: Callable[[], list[tuple]]  # builds the inputs afresh (seeded), so learners cannot alter them
    rtol: float = 1e-5
    atol: float = 1e-6


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logits(seed, n=6):
    g = _g(seed)
    return torch.randn(n, generator=g, dtype=torch.float64) * 2, torch.randn(n, generator=g, dtype=torch.float64) * 2


def _linear_critic(w):
    lin = torch.nn.Linear(len(w), 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([w], dtype=torch.float64))
    return lambda x: lin(x).squeeze(1)


def _gaussian_densities(seed):
    x = torch.linspace(-4, 4, 9, dtype=torch.float64)
    g = _g(seed)
    mu_d, mu_g = float(torch.randn(1, generator=g)), float(torch.randn(1, generator=g))
    pdf = lambda m: torch.exp(-(x - m) ** 2 / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return pdf(mu_d), pdf(mu_g)


def _dist(seed, k=5):
    g = _g(seed)
    p = torch.rand(k, generator=g, dtype=torch.float64)
    return p / p.sum()


EXERCISES: dict[str, Exercise] = {
    # 01: theory
    "optimal_discriminator": Exercise(optimal_discriminator, lambda: [_gaussian_densities(s) for s in range(3)]),
    "js_divergence": Exercise(js_divergence, lambda: [(_dist(1), _dist(2)),
                                                      (torch.tensor([1.0, 0, 0], dtype=torch.float64),
                                                       torch.tensor([0, 0.5, 0.5], dtype=torch.float64)),
                                                      (_dist(3), _dist(3))]),
    # 02: the minimax GAN
    "nonsaturating_g_loss": Exercise(lambda cf: losses.nonsaturating_g(None, cf),
                                     lambda: [(_logits(s)[1],) for s in range(3)] + [(torch.tensor([-30.0, 30.0]),)]),
    "discriminator_loss_smoothed": Exercise(lambda cr, cf, t: losses.minimax_d(cr, cf, real_label=t),
                                            lambda: [(*_logits(s), t) for s, t in ((0, 1.0), (1, 0.9), (2, 0.8))]),
    # 03: WGAN
    "wasserstein_critic_loss": Exercise(losses.wasserstein_d, lambda: [_logits(s) for s in range(3)]),
    "clip": Exercise(lambda w, c: w.clamp(-c, c),
                     lambda: [(torch.randn(4, 5, generator=_g(s)), c) for s, c in ((0, 0.01), (1, 0.5), (2, 2.0))]),
    # 04: WGAN-GP
    "interpolate": Exercise(interpolate, lambda: [(torch.ones(3, 2, 2), torch.zeros(3, 2, 2), torch.tensor([0.0, 0.5, 1.0])),
                                                  (torch.randn(4, 3, generator=_g(1)), torch.randn(4, 3, generator=_g(2)),
                                                   torch.rand(4, generator=_g(3)))]),
    "gradient_penalty_linear": Exercise(
        lambda w, real, fake: losses.gradient_penalty(_linear_critic(w), real, fake),
        lambda: [([0.6, 0.8], torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)),
                 ([1.2, 1.6], torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)),
                 ([3.0, 0.0], torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64))]),
    # 05: relativistic GANs
    "rasgan_d_loss": Exercise(losses.rasgan_d, lambda: [_logits(s) for s in range(3)]),
    "ralsgan_g_loss": Exercise(losses.ralsgan_g, lambda: [_logits(s) for s in range(3)]),
    # 06: conditional DCGAN
    "conv_transpose_output_size": Exercise(conv_transpose_output_size,
                                           lambda: [(1, 4, 1, 0), (4, 4, 2, 1), (7, 4, 2, 1), (5, 3, 2, 1, 1), (1, 7, 1, 0)]),
    "one_hot_planes": Exercise(one_hot_planes, lambda: [(torch.tensor([0, 3, 9]), 10, 4), (torch.tensor([1, 1]), 2, 2)]),
    # 07: evaluation
    "frechet_distance": Exercise(
        metrics.frechet_distance,
        lambda: [(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)),
                 (np.array([1.0, 2.0]), np.array([[2.0, 1.0], [1.0, 2.0]]), np.zeros(2), np.array([[1.0, 0.2], [0.2, 3.0]]))],
        rtol=1e-6),
    "inception_score": Exercise(lambda p: metrics.inception_score(p, splits=1)[0],
                                lambda: [(torch.eye(4).repeat(3, 1).double(),),
                                         (torch.softmax(torch.randn(20, 5, generator=_g(0), dtype=torch.float64), 1),)]),
    # 08: applications
    "roc_auc": Exercise(roc_auc, lambda: [(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])),
                                          (torch.tensor([1.0, 1.0, 2.0]), torch.tensor([0, 1, 1]))]),
    "slerp": Exercise(lambda a, b, t: __import__("chapter11.widgets", fromlist=["slerp"]).slerp(a, b, t),
                      lambda: [(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 0.5),
                               (torch.randn(8, generator=_g(1)), torch.randn(8, generator=_g(2)), 0.3)]),
}


# ----------------------------------------------------------------------------- the checker

def _fmt(v) -> str:
    if isinstance(v, torch.Tensor):
        v = v.detach()
        return f"tensor{tuple(v.shape)} {v.flatten()[:8].tolist()}{' ...' if v.numel() > 8 else ''}"
    if isinstance(v, np.ndarray):
        return f"array{v.shape} {v.flatten()[:8].tolist()}"
    return repr(v)


def _close(got, want, rtol, atol) -> bool:
    try:
        got_t = torch.as_tensor(np.asarray(got.detach() if isinstance(got, torch.Tensor) else got, dtype=np.float64))
    except (TypeError, ValueError):
        return False
    want_t = torch.as_tensor(np.asarray(want.detach() if isinstance(want, torch.Tensor) else want, dtype=np.float64))
    return got_t.shape == want_t.shape and bool(torch.allclose(got_t, want_t, rtol=rtol, atol=atol))


def check(name: str, fn: Callable) -> bool:
    """Run exercise `name`'s stored cases through `fn`; print "passed" or the first failure."""
    if name not in EXERCISES:
        raise ValueError(f"Unknown exercise {name!r}. Known: {', '.join(EXERCISES)}.")
    ex = EXERCISES[name]
    cases = ex.cases()
    for i, args in enumerate(cases, 1):
        try:
            got = fn(*copy.deepcopy(args))
        except NotImplementedError:
            print(f"{name}: not attempted yet. The function still raises NotImplementedError; "
                  "replace that line with your code and run this cell again.")
            return False
        except Exception as err:  # the learner's code failed: show the input that broke it
            print(f"{name}: case {i} raised {type(err).__name__}: {err}\n  input:    "
                  + ", ".join(_fmt(a) for a in args))
            return False
        want = ex.reference(*copy.deepcopy(args))
        if not _close(got, want, ex.rtol, ex.atol):
            print(f"{name}: case {i} of {len(cases)} is wrong\n  input:    " + ", ".join(_fmt(a) for a in args)
                  + f"\n  expected: {_fmt(want)}\n  actual:   {_fmt(got)}")
            return False
    print(f"{name}: passed ({len(cases)} cases)")
    return True
