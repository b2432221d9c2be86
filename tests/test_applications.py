"""chapter11.applications and metrics.real_vs_real, each checked against a second method or a hand result."""
import math

import pytest
import torch
from torch import nn

from chapter11.applications import (few_per_class, latent_search, log_spectrum, radial_profile, roc_auc, roc_curve,
                                    train_small_cnn)
from chapter11.classifier import SmallCNN, accuracy
from chapter11.metrics import fid_from_features, real_vs_real


def pairwise_auc(scores, pos):
    """The definition, O(n₊ n₀): P(s₊ > s₀) + ½ P(s₊ = s₀) over all pairs."""
    pos = pos.bool()
    d = scores[pos][:, None] - scores[~pos][None, :]
    return ((d > 0).double() + 0.5 * (d == 0).double()).mean().item()


# ----------------------------------------------------------------------------- ROC AUC

def test_auc_by_hand_with_ties():
    # positives 1.0, 2.0, 3.0; negatives 1.0, 0.5, 2.0. Pairs (p, n): 1>0.5; 1=1 (½); 1<2;
    # 2>1, 2>0.5, 2=2 (½); 3 beats all three → (1 + ½ + 0 + 1 + 1 + ½ + 3) / 9 = 7/9
    s = torch.tensor([1.0, 1.0, 2.0, 0.5, 2.0, 3.0])
    y = torch.tensor([0, 1, 1, 0, 0, 1])
    assert roc_auc(s, y) == pytest.approx(7 / 9, abs=1e-12)


def test_auc_matches_the_pairwise_definition_and_the_curve_area():
    g = torch.Generator().manual_seed(0)
    for n, ties in [(50, False), (300, True)]:
        s = torch.randn(n, generator=g)
        if ties:
            s = (s * 2).round()  # many tied scores
        y = torch.rand(n, generator=g) < 0.3
        fpr, tpr = roc_curve(s, y)
        assert roc_auc(s, y) == pytest.approx(pairwise_auc(s, y), abs=1e-12)
        assert float(torch.trapezoid(tpr, fpr)) == pytest.approx(pairwise_auc(s, y), abs=1e-12)
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
        assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all()


def test_auc_extremes_and_errors():
    y = torch.tensor([0, 0, 1, 1])
    assert roc_auc(torch.tensor([0.0, 1.0, 2.0, 3.0]), y) == 1.0
    assert roc_auc(torch.tensor([3.0, 2.0, 1.0, 0.0]), y) == 0.0
    assert roc_auc(torch.ones(4), y) == 0.5
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_auc(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="differ in length"):
        roc_curve(torch.ones(3), torch.tensor([0, 1]))


# ----------------------------------------------------------------------------- few-shot sets and the classifier

def test_few_per_class_is_stratified_and_seeded():
    labels = torch.arange(100) % 4  # 25 of each of 4 classes
    images = torch.arange(100, dtype=torch.float32).view(100, 1, 1, 1)  # an image's value is its index
    x, y = few_per_class(images, labels, 5, seed=0)
    assert torch.equal(y, torch.arange(4).repeat_interleave(5))
    idx = x.flatten().long()
    assert torch.equal(labels[idx], y) and len(idx.unique()) == 20  # the right classes, no repeats
    assert torch.equal(few_per_class(images, labels, 5, seed=0)[0], x)
    assert not torch.equal(few_per_class(images, labels, 5, seed=1)[0], x)
    with pytest.raises(ValueError, match="only 25 images"):
        few_per_class(images, labels, 26, seed=0)


def _two_class_images(n, seed):
    # class 0: bright upper half; class 1: bright lower half (plus noise): a CNN must look at where the ink is
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.full((n, 1, 28, 28), -1.0) + 0.2 * torch.randn(n, 1, 28, 28, generator=g)
    for i in range(n):
        rows = slice(0, 14) if y[i] == 0 else slice(14, 28)
        x[i, 0, rows] += 1.5
    return x, y


def test_train_small_cnn_learns_a_separable_task_and_mixes_sets():
    x, y = _two_class_images(64, 0)
    x_test, y_test = _two_class_images(200, 1)
    untrained = accuracy(SmallCNN(num_classes=2).eval(), x_test, y_test)
    model = train_small_cnn([(x, y)], steps=30, seed=0, num_classes=2)
    assert not model.training
    assert accuracy(model, x_test, y_test) == 1.0 and untrained < 0.9
    # a second set whose labels are all 1: every batch holds half of them, so the model leans towards class 1
    skew = train_small_cnn([(x, y), (x, torch.ones_like(y))], steps=30, seed=0, num_classes=2)
    with torch.no_grad():
        p1 = skew(x_test)[1].softmax(1)[:, 1].mean().item()
    assert p1 > 0.6  # balanced data would give ≈ 0.5; the mixed batches are 3/4 class 1
    with pytest.raises(ValueError, match="sets is empty"):
        train_small_cnn([], steps=1, seed=0)
    with pytest.raises(ValueError, match="set 0"):
        train_small_cnn([(x, y[:3])], steps=1, seed=0)


# ----------------------------------------------------------------------------- latent search

class LinearG(nn.Module):
    """G(z) = W z reshaped to (1, 4, 4): the best z for any x is a least-squares solution."""

    def __init__(self, latent_dim=3):
        super().__init__()
        self.latent_dim = latent_dim
        self.lin = nn.Linear(latent_dim, 16, bias=False)

    def forward(self, z):
        return self.lin(z).view(-1, 1, 4, 4)


def test_latent_search_reaches_the_least_squares_optimum():
    torch.manual_seed(0)
    G = LinearG()
    W = G.lin.weight.detach()  # (16, 3)
    g = torch.Generator().manual_seed(1)
    on_range = G(torch.randn(4, 3, generator=g)).detach()  # images G can draw exactly: score 0
    off_range = torch.randn(4, 1, 4, 4, generator=g)  # generic images: score = least-squares residual / 16
    z_ls = torch.linalg.lstsq(W, off_range.flatten(1).T).solution  # (3, 4)
    expected = (W @ z_ls - off_range.flatten(1).T).square().mean(0)  # (4,) closed form
    scores, recon = latent_search(G, torch.cat([on_range, off_range]), steps=600, starts=2, lr=0.05)
    assert scores[:4].max() < 1e-5
    assert torch.allclose(scores[4:], expected, rtol=1e-3, atol=1e-6)
    assert torch.allclose(recon[:4], on_range, atol=1e-2)
    assert all(p.requires_grad for p in G.parameters()) and G.training  # G's state is given back


def test_latent_search_passes_labels_and_checks_them():
    calls = []

    class CondG(LinearG):
        def forward(self, z, labels):
            calls.append(labels.clone())
            return super().forward(z)

    x = torch.zeros(3, 1, 4, 4)
    latent_search(CondG(), x, steps=1, starts=2, labels=torch.tensor([7, 8, 9]))
    assert torch.equal(calls[0], torch.tensor([7, 7, 8, 8, 9, 9]))  # each image's label for each of its starts
    with pytest.raises(ValueError, match="labels has 2 entries for 3 images"):
        latent_search(CondG(), x, steps=1, labels=torch.tensor([1, 2]))


# ----------------------------------------------------------------------------- spectra

def test_log_spectrum_of_a_constant_and_a_checkerboard():
    n = 8
    const = torch.full((2, 1, n, n), 0.5)
    spec = log_spectrum(const)
    # DFT of a constant c: c·n² at frequency 0 (the centre after fftshift), 0 elsewhere
    assert spec[n // 2, n // 2].item() == pytest.approx(math.log((0.5 * n * n) ** 2 + 1e-8))
    assert spec.flatten().sort().values[-2].item() == pytest.approx(math.log(1e-8))
    i = torch.arange(n)
    checker = ((-1.0) ** (i[:, None] + i[None, :])).view(1, 1, n, n)  # all power at frequency (n/2, n/2)
    spec_c = log_spectrum(checker)
    assert spec_c.argmax().item() == 0  # fftshift puts frequency -n/2 ≡ n/2 at index 0
    assert spec_c[0, 0].item() == pytest.approx(math.log(float(n * n) ** 2 + 1e-8))


def test_radial_profile_rings():
    h = w = 6
    yy, xx = torch.meshgrid(torch.arange(h) - 3, torch.arange(w) - 3, indexing="ij")
    radius = (yy ** 2 + xx ** 2).double().sqrt()
    prof = radial_profile(radius.round())  # a spectrum equal to its own ring number: profile = 0, 1, 2, ...
    assert torch.allclose(prof, torch.arange(len(prof), dtype=torch.float64))
    assert len(prof) == round(math.sqrt(18)) + 1  # the corner (-3, -3) is the farthest
    assert radial_profile(torch.ones(h, w)).eq(1).all()
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        radial_profile(torch.ones(1, h, w))


# ----------------------------------------------------------------------------- real vs real

class Identity(nn.Module):
    """Features = the flattened pixels, logits = nothing useful: FID of two point clouds we control."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))  # extract_features reads the device from a parameter

    def forward(self, x):
        f = x.flatten(1)
        return f, f[:, :2]


def test_real_vs_real_same_set_and_shifted_set():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 1, 2, 2, generator=g, dtype=torch.float64).float()
    same = real_vs_real(Identity(), a, a.clone())
    assert same["fid"] == pytest.approx(0.0, abs=1e-6) and same["precision"] == 1.0 and same["recall"] == 1.0
    shifted = real_vs_real(Identity(), a, a + 3.0)  # a mean shift of 3 in 4 dimensions: FID = 4 · 3² = 36
    assert shifted["fid"] == pytest.approx(36.0, rel=1e-6)
    assert shifted["fid"] == pytest.approx(fid_from_features(a.flatten(1), (a + 3).flatten(1)), rel=1e-9)
    assert shifted["n"] == shifted["n_real"] == 400 and shifted["kid"] > 1.0
