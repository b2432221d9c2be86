"""Metrics against closed forms, hand-worked numbers and independent implementations."""
import math

import numpy as np
import pytest
import torch

from chapter11.metrics import (chapter_fid_elementwise_sqrt, chapter_frechet_elementwise_sqrt,
                               chapter_inception_score_per_image_marginal,
                               fid_from_features, frechet_distance, inception_score, kid_from_features, prdc)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    want = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-6)


def test_frechet_distance_of_full_covariances_matches_scipy_sqrtm():
    """Second method: pytorch-fid's recipe, a general matrix square root of Σ1Σ2 (scipy.linalg.sqrtm)."""
    import scipy.linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = a @ a.T + 0.1 * np.eye(8), b @ b.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    assert np.allclose(covmean @ covmean, s1 @ s2)  # it is a square root
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-6)
    # shifting every feature by 0.5 adds exactly ‖shift‖² = 16 · 0.25 = 4 (covariance unchanged)
    assert fid_from_features(x, x + 0.5) == pytest.approx(4.0, rel=1e-6)


def test_fid_handles_singular_covariances_and_rejects_bad_input():
    x = torch.randn(10, 32)  # fewer samples than dimensions: singular covariances
    assert math.isfinite(fid_from_features(x, torch.randn(10, 32)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid_from_features(x[:1], x)
    with pytest.raises(ValueError, match="dimensions differ"):
        fid_from_features(x, torch.randn(10, 31))
    with pytest.raises(ValueError, match="Shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="not positive semi-definite.*imaginary component"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_inception_score_extremes():
    C = 10
    confident = torch.eye(C).repeat(50, 1)  # 500 one-hot predictions spread evenly over 10 classes
    assert inception_score(confident, splits=10)[0] == pytest.approx(C, rel=1e-9)
    same = torch.full((500, C), 0.0)
    same[:, 3] = 1.0
    assert inception_score(same, splits=5) == (pytest.approx(1.0), pytest.approx(0.0, abs=1e-12))
    soft = torch.softmax(torch.randn(200, C), dim=1)
    mean, std = inception_score(soft, splits=1)
    py = soft.double().mean(0)
    want = math.exp(float((soft.double() * (soft.double().log() - py.log())).sum(1).mean()))
    assert mean == pytest.approx(want, rel=1e-9) and std == 0.0
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.randn(20, C))


def test_chapter_inception_score_is_always_one():
    confident = torch.eye(10).repeat(50, 1)
    assert chapter_inception_score_per_image_marginal(confident) == pytest.approx(1.0)
    assert inception_score(confident)[0] == pytest.approx(10.0)


def test_chapter_fid_is_wrong_even_for_identical_distributions():
    """Σ1 = Σ2 = [[2, 1], [1, 2]]: Σ1Σ2 = [[5, 4], [4, 5]], so the entry-wise version gives
    4 + 4 - 2(√5 + √5) = 8 - 4√5 ≈ -0.944, a negative "distance", where the true FID is 0."""
    s = np.array([[2.0, 1.0], [1.0, 2.0]])
    mu = np.zeros(2)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    assert chapter_frechet_elementwise_sqrt(mu, s, mu, s) == pytest.approx(8 - 4 * math.sqrt(5), rel=1e-12)


def test_chapter_fid_on_correlated_features_and_with_row_covariances():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(8, 8, generator=g)
    x = torch.randn(2000, 8, generator=g) @ mix
    y = torch.randn(2000, 8, generator=g) @ mix * 1.3 + 0.2
    true, wrong = fid_from_features(x, y), chapter_fid_elementwise_sqrt(x, y)
    assert math.isnan(wrong) or abs(wrong - true) > 0.1 * true
    rows = chapter_fid_elementwise_sqrt(x[:300], y[:300], covariance_of_rows=True)  # 300×300 "covariances"
    assert math.isnan(rows) or abs(rows - fid_from_features(x[:300], y[:300])) > 0.1 * true


def test_kid_by_hand_on_one_full_subset():
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)³, all samples in the single subset, worked with loops."""
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    k = lambda a, b: (float(a @ b) / 2 + 1) ** 3  # noqa: E731
    m = 3
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = kid_from_features(x, y, num_subsets=1, subset_size=10)  # capped at 3: all samples
    assert mean == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-12) and std == 0.0


def test_kid_of_the_same_distribution_is_near_zero_and_of_a_shift_is_not():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 16, generator=g), torch.randn(2000, 16, generator=g)
    same, same_std = kid_from_features(a, b, num_subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    shifted, _ = kid_from_features(a, b + 1.0, num_subsets=20, subset_size=500)
    assert shifted > 100 * abs(same)
    assert kid_from_features(a, b, num_subsets=5, seed=3) == kid_from_features(a, b, num_subsets=5, seed=3)


@pytest.fixture(scope="module")
def gaussian_10k():
    g = torch.Generator().manual_seed(0)
    return torch.randn(10_000, 1000, generator=g), torch.randn(10_000, 1000, generator=g)


def test_prdc_reproduces_the_authors_reference_values(gaussian_10k):
    real, fake = gaussian_10k
    r = prdc(real, fake, k=5)
    assert r["precision"] == pytest.approx(0.4772, abs=0.02)
    assert r["recall"] == pytest.approx(0.4705, abs=0.02)
    assert r["coverage"] == pytest.approx(0.9735, abs=0.02)
    assert r["density"] == pytest.approx(1.0555, abs=0.05)


def test_prdc_agrees_with_the_authors_package():
    prdc_pkg = pytest.importorskip("prdc")
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(2000, 64, generator=g), torch.randn(2000, 64, generator=g) * 1.1 + 0.05
    ours = prdc(real, fake, k=5)
    theirs = prdc_pkg.compute_prdc(real_features=real.numpy(), fake_features=fake.numpy(), nearest_k=5)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-3), key


def test_prdc_by_hand_in_one_dimension():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0], [11.0], [12.0]])
    # k = 1: real radii are 1 each; fake radii are 9.5, 1, 1, 1.
    r = prdc(real, fake, k=1)
    assert r["precision"] == 0.25  # only 0.5 lies within distance < 1 of a real point
    assert r["recall"] == 1.0  # every real point lies inside the fake ball around 0.5 (radius 9.5)
    assert r["density"] == 0.5  # 0.5 is inside the balls of 0 and 1: 2 balls / 1 / 4 fakes
    assert r["coverage"] == 0.5  # reals 0 and 1 have a fake within distance < 1


def _torchmetrics_or_skip():
    fid = pytest.importorskip("torchmetrics.image.fid")  # these submodules work without torch-fidelity
    kid = pytest.importorskip("torchmetrics.image.kid")
    return fid.FrechetInceptionDistance, kid.KernelInceptionDistance


class Flatten(torch.nn.Module):
    """A fixed 'feature extractor': flattens 1×4×4 images to 16 features (float64 for exact agreement)."""

    num_features = 16

    def forward(self, x):
        return x.flatten(1).double()


def test_fid_and_kid_agree_with_torchmetrics():
    FID, KID = _torchmetrics_or_skip()
    g = torch.Generator().manual_seed(0)
    real = torch.rand(600, 1, 4, 4, generator=g)
    fake = (torch.rand(600, 1, 4, 4, generator=g) * 0.8 + 0.15).clamp(0, 1)
    fid = FID(feature=Flatten(), normalize=True)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    assert fid_from_features(real.flatten(1), fake.flatten(1)) == pytest.approx(float(fid.compute()), rel=1e-3)
    kid = KID(feature=Flatten(), subsets=1, subset_size=600, normalize=True)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    theirs = float(kid.compute()[0])
    ours = kid_from_features(real.flatten(1), fake.flatten(1), num_subsets=1, subset_size=600)[0]
    assert ours == pytest.approx(theirs, rel=1e-3)


def test_kid_with_whole_sets_computes_one_subset():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
    assert kid_from_features(a, b, num_subsets=100, subset_size=1000) == kid_from_features(a, b, num_subsets=1)
    assert kid_from_features(a, b, num_subsets=100, subset_size=1000)[1] == 0.0
