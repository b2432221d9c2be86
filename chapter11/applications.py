"""What a trained GAN is used for (notebook 08): augmentation, anomaly scoring, and fake detection.

Each piece is small and checked against a second method in tests/test_applications.py:
- `few_per_class`: a stratified few-shot training set, the starting point of augmentation.
- `train_small_cnn`: a fresh SmallCNN whose batches mix several (images, labels) sets in fixed shares.
- `latent_search`: AnoGAN's score, min_z ||G(z) - x||² / P, found by Adam from several random starts.
- `roc_auc` / `roc_curve`: the area under the ROC curve by ranks (Mann–Whitney), and the curve itself.
- `log_spectrum` / `radial_profile`: where in frequency fakes differ from real images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def few_per_class(images: Tensor, labels: Tensor, k: int, seed: int) -> tuple[Tensor, Tensor]:
    """k random images of every class present in `labels` (a different draw for each seed).

    Returns (images (C·k, ...), labels (C·k,)), grouped by class in increasing order.
    """
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique(sorted=True).tolist():
        idx = (labels == c).nonzero().squeeze(1)  # every image of class c
        if len(idx) < k:
            raise ValueError(f"class {c} has only {len(idx)} images; ask for k <= {len(idx)}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    idx = torch.cat(picks)  # (C·k,)
    return images[idx], labels[idx]


def train_small_cnn(sets: list[tuple[Tensor, Tensor]], steps: int, seed: int, num_classes: int = 10,
                    batch_size: int = 64, lr: float = 1e-3, augment: bool = False) -> nn.Module:
    """A fresh SmallCNN after `steps` Adam steps on cross-entropy, returned in eval mode.

    Every batch draws batch_size / len(sets) images from each (images, labels) set, so a small
    real set and a large synthetic one weigh the same whatever their sizes. augment: the
    package's random rotation/scale/shift (`classifier.augment`) on every batch.
    """
    from .classifier import SmallCNN
    from .classifier import augment as random_affine

    if not sets:
        raise ValueError("sets is empty; pass at least one (images, labels) pair")
    for i, (x, y) in enumerate(sets):
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"set {i}: {len(x)} images and {len(y)} labels; each set needs as many of both, "
                             "and at least one")
    share = batch_size // len(sets)
    if share < 1:
        raise ValueError(f"batch_size {batch_size} is smaller than the number of sets ({len(sets)})")
    torch.manual_seed(seed)  # the CNN's initial weights
    g = torch.Generator().manual_seed(seed)  # the batches and the augmentation
    model = SmallCNN(num_classes=num_classes).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        picks = [torch.randint(len(x), (share,), generator=g) for x, _ in sets]
        xb = torch.cat([x[i] for (x, _), i in zip(sets, picks)])  # (share · len(sets), C, H, W)
        yb = torch.cat([y[i] for (_, y), i in zip(sets, picks)])  # (share · len(sets),)
        if augment:
            xb = random_affine(xb, g)
        loss = F.cross_entropy(model(xb)[1], yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def latent_search(G: nn.Module, x: Tensor, steps: int, starts: int = 2, labels: Tensor | None = None,
                  lr: float = 0.05, seed: int = 0, chunk: int = 500) -> tuple[Tensor, Tensor]:
    """AnoGAN's anomaly score: s(x) = min_z ||G(z[, y]) - x||² / P, P = pixels per image.

    Adam on z from `starts` standard-normal starts per image; the best start wins. An image the
    generator can draw scores low, one it cannot scores high. G's weights are not changed.
    Returns (scores (N,), best reconstructions (N, C, H, W)).
    """
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"labels has {len(labels)} entries for {len(x)} images")
    if starts < 1 or steps < 0:
        raise ValueError(f"need starts >= 1 and steps >= 0; got starts={starts}, steps={steps}")
    was_training = G.training
    G.eval()
    frozen = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)  # only z is optimised
    g = torch.Generator().manual_seed(seed)
    scores, recons = [], []
    try:
        for i in range(0, len(x), chunk):
            target = x[i:i + chunk].repeat_interleave(starts, 0)  # (b·starts, C, H, W)
            args = () if labels is None else (labels[i:i + chunk].repeat_interleave(starts),)
            z = torch.randn(len(target), G.latent_dim, generator=g).requires_grad_()  # (b·starts, nz)
            opt = torch.optim.Adam([z], lr=lr)
            for _ in range(steps):
                err = (G(z, *args) - target).square().flatten(1).mean(1)  # (b·starts,)
                opt.zero_grad(set_to_none=True)
                err.sum().backward()  # a sum, not a mean: each start's step does not depend on the others
                opt.step()
            with torch.no_grad():
                out = G(z, *args)  # (b·starts, C, H, W)
                err = (out - target).square().flatten(1).mean(1).view(-1, starts)  # (b, starts)
                best = err.argmin(1)  # (b,) the best start of each image
                scores.append(err.min(1).values)
                recons.append(out.view(-1, starts, *out.shape[1:])[torch.arange(len(best)), best])
    finally:
        for p, r in zip(G.parameters(), frozen):
            p.requires_grad_(r)
        G.train(was_training)
    return torch.cat(scores), torch.cat(recons)


def _check_scores(scores: Tensor, is_positive: Tensor) -> tuple[Tensor, Tensor]:
    s, pos = torch.as_tensor(scores).double().flatten(), torch.as_tensor(is_positive).bool().flatten()
    if len(s) != len(pos):
        raise ValueError(f"scores and labels differ in length: {len(s)} vs {len(pos)}")
    if pos.all() or not pos.any():
        raise ValueError("the AUC needs at least one positive and one negative example")
    return s, pos


def roc_auc(scores: Tensor, is_positive: Tensor) -> float:
    """P(score of a random positive > score of a random negative) + ½ P(equal), by ranks.

    Mann–Whitney: AUC = (R₊ - n₊(n₊+1)/2) / (n₊ n₀), R₊ the sum of the positives' ranks, where
    tied scores share their mean rank. O(n log n), unlike the O(n₊ n₀) pairwise definition.
    """
    s, pos = _check_scores(scores, is_positive)
    order = s.argsort()
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=torch.float64)  # 1 = lowest score
    values, inverse = s.unique(return_inverse=True)  # tied scores → one group
    mean_rank = torch.zeros(len(values), dtype=torch.float64).index_add_(0, inverse, ranks)
    mean_rank /= torch.bincount(inverse, minlength=len(values))  # ties share their mean rank
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((mean_rank[inverse][pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def roc_curve(scores: Tensor, is_positive: Tensor) -> tuple[Tensor, Tensor]:
    """(false-positive rates, true-positive rates) from (0, 0) to (1, 1), one point per distinct score.

    Calling "positive" every score ≥ the threshold, for thresholds from the highest score down;
    the trapezoid area under it equals `roc_auc` (ties make diagonal segments: the ½ P(equal)).
    """
    s, pos = _check_scores(scores, is_positive)
    thresholds = s.unique(sorted=True).flip(0)  # (T,) high → low
    called = s[None, :] >= thresholds[:, None]  # (T, N)
    tpr = called[:, pos].double().mean(1)  # (T,)
    fpr = called[:, ~pos].double().mean(1)  # (T,)
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])


def log_spectrum(x: Tensor) -> Tensor:
    """Mean over images of log |FFT₂(x)|² (first channel), zero frequency moved to (H//2, W//2); (H, W)."""
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W); got shape {tuple(x.shape)}")
    f = torch.fft.fftshift(torch.fft.fft2(x[:, 0].double()), dim=(-2, -1))  # (N, H, W) complex
    return (f.abs().square() + 1e-8).log().mean(0)  # +1e-8: log of an exact zero would be -inf


def radial_profile(spectrum: Tensor) -> Tensor:
    """Mean of a centred (H, W) spectrum over rings of equal rounded radius; (R + 1,) for R the largest radius."""
    if spectrum.ndim != 2:
        raise ValueError(f"expected one (H, W) spectrum; got shape {tuple(spectrum.shape)}")
    h, w = spectrum.shape
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    r = (yy.square() + xx.square()).double().sqrt().round().long().flatten()  # (H·W,) ring of each frequency
    total = torch.zeros(int(r.max()) + 1, dtype=torch.float64).index_add_(0, r, spectrum.flatten().double())
    return total / torch.bincount(r)  # every rounded radius up to the corner's occurs at least once
