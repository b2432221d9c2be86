"""Sample-quality metrics computed from features: FID, KID, IS, precision/recall, density/coverage.

Every function takes features or class probabilities that some network has already produced,
so each formula can be checked on numbers whose answer is known in closed form. Statistics are
computed in float64: FID subtracts traces of similar size, and float32 loses the difference.

Where the source chapter goes wrong (kept here as `chapter_*` functions, to show by how much):
- its "FID" takes an element-wise square root of Σ1Σ2 instead of the matrix square root;
- its Inception Score builds the marginal p(y) from each image instead of from the whole sample.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_2d_float64(x, name: str) -> np.ndarray:
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [N, D]; got shape {arr.shape}")
    return arr


def _check_pair(f1, f2, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_2d_float64(f1, "feats1"), _as_2d_float64(f2, "feats2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {a.shape[1]} vs {b.shape[1]}. Use the same extractor for both sets.")
    if len(a) < min_n or len(b) < min_n:
        raise ValueError(f"Need at least {min_n} samples in each set; got {len(a)} and {len(b)}.")
    return a, b


# ----------------------------------------------------------------------------- FID

def _check_psd(w: np.ndarray, what: str) -> None:
    if w.min() < -1e-6 * max(1.0, np.abs(w).max()):
        raise ValueError(f"{what} is not positive semi-definite (smallest eigenvalue {w.min():.3g}); a covariance "
                         "matrix cannot be. Its matrix square root would have an imaginary component.")


def _sym_sqrt_psd(s: np.ndarray, what: str) -> np.ndarray:
    """Real symmetric square root of a symmetric PSD matrix via eigh; roundoff negatives become 0."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    _check_psd(w, what)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((Σ1 Σ2)^{1/2}) = Σ_i √λ_i(Σ1^{1/2} Σ2 Σ1^{1/2}).

    Σ1Σ2 is similar to the symmetric PSD matrix Σ1^{1/2} Σ2 Σ1^{1/2}, so both have the same
    (real, non-negative) eigenvalues; its principal square root is real and its trace is the
    sum of their square roots. Two symmetric eigendecompositions are several times faster than
    a general `scipy.linalg.sqrtm` (tests check that both agree).
    """
    r1 = _sym_sqrt_psd(s1, "sigma1")
    _check_psd(np.linalg.eigvalsh((s2 + s2.T) / 2), "sigma2")  # eigenvalues only: cheaper than a root
    lam = np.linalg.eigvalsh(r1 @ s2 @ r1)
    if lam.min() < -1e-6 * max(1.0, np.abs(lam).max()):
        raise ValueError(f"The matrix square root of Σ1Σ2 has an imaginary component (eigenvalue {lam.min():.3g}); "
                         "the covariances are badly conditioned. Use more samples than feature dimensions.")
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2):

        d² = ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^{1/2})

    in float64, with the real principal square root of Σ1Σ2 (see `_trace_sqrt_product`). If the
    result is not finite, ε·I is added to both covariances and it is computed again (as
    pytorch-fid does). A matrix that is not positive semi-definite, whose square root would be
    complex, is an error.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"Shapes do not match: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}; "
                         f"expected ({d},) and ({d}, {d}).")
    diff = mu1 - mu2
    try:
        tr_covmean = _trace_sqrt_product(s1, s2)
    except np.linalg.LinAlgError:  # eigh did not converge: ill-conditioned input
        tr_covmean = float("nan")
    if not np.isfinite(tr_covmean):
        offset = np.eye(d) * eps
        tr_covmean = _trace_sqrt_product(s1 + offset, s2 + offset)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def feature_statistics(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features [N, D], rows as samples, in float64."""
    f = _as_2d_float64(feats, "feats")
    if len(f) < 2:
        raise ValueError(f"Need at least 2 samples for a covariance; got {len(f)}.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_features(feats1, feats2) -> float:
    """FID between two sets of features [N, D]: the Fréchet distance of their Gaussian fits."""
    a, b = _check_pair(feats1, feats2)
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def chapter_fid_elementwise_sqrt(feats1, feats2, covariance_of_rows: bool = False) -> float:
    """The source chapter's "FID": sqrt taken entry by entry on Σ1Σ2 (NaN where an entry is negative).

    covariance_of_rows=True also reproduces its second mistake: a covariance that treats each
    sample as a variable (an N×N matrix, as tch's `Tensor::covariance` does on [N, D] input),
    which only runs at all when both sets have the same N.
    """
    a, b = _check_pair(feats1, feats2)
    (m1, s1), (m2, s2) = feature_statistics(a), feature_statistics(b)
    if covariance_of_rows:
        if len(a) != len(b):
            raise ValueError("covariance_of_rows needs sets of equal size, as the chapter's code does.")
        s1, s2 = np.cov(a), np.cov(b)  # (N, N): rows taken as the variables
    return chapter_frechet_elementwise_sqrt(m1, s1, m2, s2)


def chapter_frechet_elementwise_sqrt(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2·sqrt.(Σ1Σ2)) with an entry-wise sqrt: wrong unless Σ1Σ2 is diagonal."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    with np.errstate(invalid="ignore"):
        return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.sqrt(s1 @ s2)))


# ----------------------------------------------------------------------------- Inception Score

def _check_probs(probs) -> np.ndarray:
    p = _as_2d_float64(probs, "probs")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs must be class probabilities: non-negative rows that sum to 1 "
                         "(apply softmax to logits first).")
    return p


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p_i ‖ q_i) per row, with 0 · log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) ‖ p(y))), with p(y) the mean of p(y|x) over each split.

    Returns the mean and standard deviation over `splits` equal parts, as in the original code.
    The parts are taken in the order given: shuffle data that is sorted by class first (split
    by class, each part holds one class and scores about 1).
    """
    p = _check_probs(probs)
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be between 1 and the number of samples ({len(p)}); got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)  # (1, C): p(y) over the split
        scores.append(np.exp(_kl_rows(part, np.broadcast_to(marginal, part.shape)).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def chapter_inception_score_per_image_marginal(probs) -> float:
    """The source chapter's mistake: p(y) computed per image, so KL(p(y|x) ‖ p(y|x)) = 0 and IS = 1 always."""
    p = _check_probs(probs)
    return float(np.exp(_kl_rows(p, p).mean()))


# ----------------------------------------------------------------------------- KID

def _poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (aᵀb / d + 1)³; kernel diagonals excluded."""
    m, d = len(x), x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.sum() / (m * m))


def kid_from_features(feats1, feats2, num_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of the unbiased polynomial-kernel MMD² over random subsets.

    subset_size is capped at the smaller set; subsets are drawn without replacement from a
    generator seeded with `seed`, so the result is reproducible.
    """
    a, b = _check_pair(feats1, feats2)
    m = min(subset_size, len(a), len(b))
    if m == len(a) == len(b):
        num_subsets = 1  # every "subset" would be the whole of both sets: one is enough
    rng = np.random.default_rng(seed)
    vals = [_poly_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)])
            for _ in range(num_subsets)]
    return float(np.mean(vals)), float(np.std(vals))


# ----------------------------------------------------------------------------- precision, recall, density, coverage

def _pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b)  # (Na, Nb) Euclidean distances


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (the k+1-th value, counting itself)."""
    return torch.kthvalue(_pairwise(x, x), k + 1, dim=1).values  # (N,)


def prdc(real_feats, fake_feats, k: int = 5) -> dict:
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020).

    With B(x, r) the ball around x whose radius is the distance to x's k-th nearest neighbour
    in its own set:
    - precision: share of fakes inside some real ball;
    - recall: share of reals inside some fake ball;
    - density: (1/k) · mean over fakes of the number of real balls containing it;
    - coverage: share of reals whose own ball contains at least one fake.
    """
    a, b = _check_pair(real_feats, fake_feats, min_n=k + 1)
    real, fake = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    real_r = _kth_neighbour_radius(real, k)  # (Nr,)
    fake_r = _kth_neighbour_radius(fake, k)  # (Nf,)
    dist = _pairwise(real, fake)  # (Nr, Nf)
    inside_real = dist < real_r[:, None]  # (Nr, Nf): fake j inside the ball of real i
    return {
        "precision": float(inside_real.any(dim=0).float().mean()),
        "recall": float((dist < fake_r[None, :]).any(dim=1).float().mean()),
        "density": float(inside_real.sum(dim=0).float().mean() / k),
        "coverage": float((dist.min(dim=1).values < real_r).float().mean()),
    }


# ----------------------------------------------------------------------------- evaluating a generator

@torch.no_grad()
def extract_features(extractor: torch.nn.Module, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `extractor` over images in batches; returns (features (N, D), logits (N, C)) on the CPU."""
    extractor.eval()
    device = next(extractor.parameters()).device
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f, lg = extractor(images[i:i + batch_size].to(device))
        feats.append(f.cpu())
        logits.append(lg.cpu())
    return torch.cat(feats), torch.cat(logits)


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, batch_size: int = 500, seed: int = 0,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """n samples from `generator` in eval mode, with noise from a generator seeded with `seed`.

    The generator's train/eval mode is restored afterwards."""
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        z = torch.randn(b, generator.latent_dim, generator=gen).to(device)  # (b, nz)
        args = () if labels is None else (labels[i:i + b].to(device),)
        out.append(generator(z, *args).cpu())
    generator.train(was_training)
    return torch.cat(out)


def evaluate(generator: torch.nn.Module, real, n: int = 10_000, extractor="mnist", batch_size: int = 500,
             seed: int = 0) -> dict:
    """Score a generator against real images with one feature extractor.

    Returns fid, kid (and kid_std), is (and is_std), precision, recall, density, coverage, and
    the classifier's view of the samples: class_histogram (predicted class counts) and class_kl
    (KL of that histogram to uniform). A conditional generator is asked for n samples with
    balanced labels, and class_accuracy is the share the classifier assigns to the requested label.
    `real` is an ImageData; up to n of its images (a seeded random subset) are used. When it holds
    fewer than n, all of them are, and `n_real` in the result says how many (FID's bias depends
    on both sizes).
    """
    from .classifier import feature_extractor

    ext = feature_extractor(extractor) if isinstance(extractor, str) else extractor
    if n < 2:
        raise ValueError(f"n must be at least 2; got {n}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(real.images), generator=gen)[:n]
    real_f, _ = extract_features(ext, real.images[idx], batch_size)
    num_classes = getattr(generator, "num_classes", None)
    labels = torch.arange(n) % num_classes if num_classes else None  # balanced requested labels
    fake = generate(generator, n, batch_size, seed + 1, labels)
    fake_f, fake_logits = extract_features(ext, fake, batch_size)
    probs = torch.softmax(fake_logits.double(), dim=1)  # (n, C)
    is_mean, is_std = inception_score(probs, splits=10 if n >= 10 else 1)
    kid_mean, kid_std = kid_from_features(real_f, fake_f, seed=seed)
    pred = fake_logits.argmax(1)  # (n,)
    hist = torch.bincount(pred, minlength=fake_logits.shape[1]).double()
    p = hist / hist.sum()
    nz = p > 0
    out = {"fid": fid_from_features(real_f, fake_f), "kid": kid_mean, "kid_std": kid_std, "is": is_mean,
           "is_std": is_std, **prdc(real_f, fake_f, k=5), "class_histogram": hist.long().tolist(),
           "class_kl": float((p[nz] * torch.log(p[nz] * len(p))).sum()), "n": n, "n_real": len(real_f),
           "extractor": extractor if isinstance(extractor, str) else type(extractor).__name__}
    if labels is not None:
        out["class_accuracy"] = float((pred == labels).double().mean())
    return out


def real_vs_real(extractor: torch.nn.Module, reference: torch.Tensor, other: torch.Tensor, seed: int = 0) -> dict:
    """FID, KID and precision/recall/density/coverage between two sets of real images.

    The floor a generator is judged against: two samples of the same distribution, scored with the
    same extractor at the same n, are not at 0 (FID's small-sample bias, PRDC's k-NN radii).
    Returns {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "n", "n_real"}.
    """
    fr, _ = extract_features(extractor, reference)
    fo, _ = extract_features(extractor, other)
    kid_mean, kid_std = kid_from_features(fr, fo, seed=seed)
    return {"fid": fid_from_features(fr, fo), "kid": kid_mean, "kid_std": kid_std, **prdc(fr, fo, k=5),
            "n": len(fo), "n_real": len(fr)}
