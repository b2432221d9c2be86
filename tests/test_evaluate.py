"""The shipped feature extractors and `evaluate` on generators whose answer we know."""
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from chapter11.classifier import WeightsUnavailableError, accuracy, feature_extractor
from chapter11.data import load_images
from chapter11.metrics import evaluate


@pytest.fixture(scope="module")
def mnist():
    return load_images("mnist-5k")


class Replay(nn.Module):
    """A 'generator' that returns real images: picked by z, and of the requested class if conditional."""

    def __init__(self, data, conditional=False, blur=False):
        super().__init__()
        self.register_buffer("images", data.images)
        self.register_buffer("labels", data.labels)
        self.latent_dim, self.num_classes = 4, (data.num_classes if conditional else None)
        self.blur = blur
        self.anchor = nn.Parameter(torch.zeros(1))  # so that next(parameters()) finds a device

    def forward(self, z, labels=None):
        pick = (z[:, 0].abs() * 1e6).long()  # (B,) pseudo-random indices from the noise
        if labels is None:
            out = self.images[pick % len(self.images)]
        else:
            out = torch.stack([self.images[self.labels == y][p % 500] for y, p in zip(labels.tolist(), pick.tolist())])
        if self.blur:
            from chapter11.data import gaussian_blur

            out = gaussian_blur(out, sigma=1.5)
        return out


def test_shipped_mnist_classifier_meets_its_heldout_accuracy(mnist):
    model = feature_extractor("mnist")
    held = load_images("mnist-5k", train=False)
    assert accuracy(model, held.images, held.labels) >= 0.98
    f, logits = model(held.images[:8])
    assert f.shape == (8, 128) and logits.shape == (8, 10)
    f32, _ = model(torch.nn.functional.interpolate(held.images[:8], size=32))  # other sizes are resized
    assert f32.shape == (8, 128)


def test_unknown_extractor_lists_the_names():
    with pytest.raises(ValueError, match="mnist, fashion-mnist, inception"):
        feature_extractor("vgg")


def test_inception_offline_says_so(monkeypatch):
    import torchvision.models as tvm

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvm, "inception_v3", offline)  # never touch the network in tests
    with pytest.raises(WeightsUnavailableError, match="offline.*feature_extractor\\('mnist'\\)"):
        feature_extractor("inception")


def test_inception_wrapper_resizes_grey_28px_input(monkeypatch):
    import torchvision.models as tvm

    real_ctor = tvm.inception_v3
    monkeypatch.setattr(tvm, "inception_v3", lambda weights=None, aux_logits=True: real_ctor(
        weights=None, aux_logits=aux_logits, init_weights=False))  # random weights: shapes only
    model = feature_extractor("inception")
    with torch.no_grad():
        f, logits = model(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert f.shape == (2, 2048) and logits.shape == (2, 1000)


def test_evaluate_real_images_score_like_real_data(mnist):
    held = load_images("mnist-5k", train=False)
    good = evaluate(Replay(mnist), held, n=1000, seed=0)
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "class_histogram", "class_kl"):
        assert key in good
    assert good["precision"] > 0.6 and good["recall"] > 0.6
    assert 8.0 < good["is"] <= 10.0  # a confident classifier on balanced real digits
    assert good["class_kl"] < 0.05
    blurred = evaluate(Replay(mnist, blur=True), held, n=1000, seed=0)
    assert blurred["fid"] > 5 * good["fid"] and blurred["precision"] < good["precision"]


def test_evaluate_conditional_accuracy(mnist):
    held = load_images("mnist-5k", train=False)
    r = evaluate(Replay(mnist, conditional=True), held, n=500, seed=1)
    assert r["class_accuracy"] >= 0.95  # replayed training digits of the requested class
    assert sum(r["class_histogram"]) == 500


def test_cli_evaluate_prints_json(tmp_path):
    run = [sys.executable, "-m", "chapter11"]
    r = subprocess.run(run + ["train", "--data", "mnist-5k", "--model", "mlp", "--steps", "2", "--out",
                              str(tmp_path), "--no-progress", "--batch-size", "16"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(run + ["evaluate", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--data", "mnist-5k",
                              "--n", "200"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["fid"] > 0 and 0 <= metrics["precision"] <= 1 and metrics["n"] == 200


def test_collapsed_and_blurred_sets_score_worse_than_real(mnist):
    """The baselines' claim: 3-class 'collapse' hurts FID and recall; blur hurts precision."""
    from chapter11.data import gaussian_blur, mnist5k_holdout_mask
    from chapter11.metrics import extract_features, fid_from_features, prdc

    ext = feature_extractor("mnist")
    held = mnist5k_holdout_mask(mnist.labels)
    ref, _ = extract_features(ext, mnist.images[held])  # (1000, 128)
    train_imgs, train_labels = mnist.images[~held], mnist.labels[~held]
    g = torch.Generator().manual_seed(0)
    real, _ = extract_features(ext, train_imgs[torch.randperm(4000, generator=g)[:1000]])
    three = train_imgs[train_labels < 3]
    collapsed, _ = extract_features(ext, three[torch.randint(len(three), (1000,), generator=g)])
    blurred, _ = extract_features(ext, gaussian_blur(train_imgs[:1000], sigma=1.0))
    base, col, blu = prdc(ref, real), prdc(ref, collapsed), prdc(ref, blurred)
    assert fid_from_features(ref, collapsed) > 10 * fid_from_features(ref, real)
    assert col["recall"] < base["recall"] - 0.3
    assert blu["precision"] < base["precision"] - 0.1 and blu["density"] < 0.6 * base["density"]


@pytest.mark.skipif(not __import__("chapter11.data", fromlist=["x"]).FASHION_MNIST_SYSTEM_DIR.joinpath(
    "t10k-images-idx3-ubyte.gz").is_file(), reason="Debian package dataset-fashion-mnist not installed")
def test_shipped_fashion_classifier_meets_its_test_accuracy():
    test = load_images("fashion-mnist", train=False)
    assert accuracy(feature_extractor("fashion-mnist"), test.images, test.labels) >= 0.91


def test_generate_restores_training_mode():
    from chapter11.metrics import generate
    from chapter11.models import DCGANGenerator

    G = DCGANGenerator(latent_dim=4, image_size=28, width=4)
    G.train()
    assert generate(G, 3).shape == (3, 1, 28, 28)
    assert G.training
