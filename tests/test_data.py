"""Datasets: shapes, ranges, class balance, offline errors, image folders and the toy protocol."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chapter11 import data as data_mod
from chapter11.data import FASHION_MNIST_SYSTEM_DIR, gaussian_blur, load_images, read_idx, toy_distribution


@pytest.fixture(scope="module")
def mnist5k():
    return load_images("mnist-5k")


def test_mnist5k_is_the_shipped_5000_digits_in_tanh_range(mnist5k):
    assert mnist5k.images.shape == (5000, 1, 28, 28) and mnist5k.images.dtype == torch.float32
    assert mnist5k.labels.dtype == torch.int64 and mnist5k.num_classes == 10 and mnist5k.name == "mnist-5k"
    assert torch.bincount(mnist5k.labels).tolist() == [500] * 10
    assert mnist5k.images.min() == -1.0 and mnist5k.images.max() == 1.0  # 0 → -1 and 255 → 1 exactly
    # The file's first row, read independently, is the first image.
    import gzip
    with gzip.open(data_mod.mnist5k_path(), "rt") as f:
        first = [int(v) for v in f.readline().split(",")]
    assert mnist5k.labels[0].item() == first[784]
    assert mnist5k.images[0].flatten().tolist() == pytest.approx([v / 127.5 - 1 for v in first[:784]], abs=1e-6)


def test_mnist5k_heldout_split_is_stratified_and_inside_the_5000(mnist5k):
    held = load_images("mnist-5k", train=False)
    assert held.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(held.labels).tolist() == [100] * 10
    mask = data_mod.mnist5k_holdout_mask(mnist5k.labels)
    assert torch.equal(mnist5k.images[mask], held.images)


def test_image_size_resizes_any_dataset(mnist5k):
    big = load_images("mnist-5k", image_size=32)
    assert big.images.shape == (5000, 1, 32, 32)
    assert big.images.min() >= -1 and big.images.max() <= 1
    # a blank border stays blank, and the mean intensity barely changes under a smooth resize
    assert big.images[:, :, 0, :].max() == -1.0
    assert abs(big.images.mean() - mnist5k.images.mean()) < 0.02


@pytest.mark.skipif(not (FASHION_MNIST_SYSTEM_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed (.ci/run installs it)")
def test_fashion_mnist_from_the_debian_package():
    test = load_images("fashion-mnist", train=False)
    assert test.images.shape == (10000, 1, 28, 28) and test.num_classes == 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert len(load_images("fashion-mnist").labels) == 60000


def test_read_idx_parses_the_header(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") + arr.tobytes()
    (tmp_path / "x.idx").write_bytes(raw)
    assert np.array_equal(read_idx(tmp_path / "x.idx"), arr)


def test_full_mnist_missing_offline_names_the_offline_choices(tmp_path):
    with pytest.raises(ValueError, match='"mnist-5k".*"fashion-mnist"'):
        load_images("mnist", root=str(tmp_path), download=False)


def test_full_mnist_download_failure_is_explained(tmp_path, monkeypatch):
    import urllib.error

    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)  # never touch the network in tests
    with pytest.raises(ValueError, match="offline.*mnist-5k"):
        load_images("mnist", root=str(tmp_path), download=True)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="Valid names: mnist-5k, fashion-mnist, mnist"):
        load_images("cifar-10")


def _png(path: Path, size, mode="RGB", color=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    _png(tmp_path / "cats" / "a.png", (10, 12), "L", 0)
    _png(tmp_path / "cats" / "b.png", (20, 20), "RGB", (255, 255, 255))
    _png(tmp_path / "dogs" / "c.png", (16, 16), "RGBA", (255, 0, 0, 255))
    d = load_images(str(tmp_path), image_size=8)
    assert d.images.shape == (3, 3, 8, 8)  # grey and RGBA both become RGB
    assert d.labels.tolist() == [0, 0, 1] and d.num_classes == 2
    assert d.images[0].max() == -1.0 and d.images[1].min() == 1.0  # black and white land at -1 and 1
    red = d.images[2].mean(dim=(1, 2))
    assert red[0] > 0.9 and red[1] < -0.9  # the red channel is on, green is off


def test_flat_folder_gets_one_class(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", (6, 6))
    d = load_images(str(tmp_path))
    assert d.images.shape == (3, 3, 6, 6) and d.labels.tolist() == [0, 0, 0] and d.num_classes == 1


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_images(str(empty))
    bad = tmp_path / "bad"
    _png(bad / "ok.png", (6, 6))
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_images(str(bad))
    mixed = tmp_path / "mixed"
    _png(mixed / "a.png", (6, 6))
    _png(mixed / "b.png", (7, 6))
    with pytest.raises(ValueError, match="image_size"):
        load_images(str(mixed))


# ----------------------------------------------------------------------------- toy distributions

def test_ring8_has_eight_distinct_unit_radius_modes():
    ring = toy_distribution("ring8")
    c = ring.centers
    assert c.shape == (8, 2) and ring.std == 0.01
    assert torch.allclose(c.norm(dim=1), torch.ones(8))
    assert torch.cdist(c, c).add(torch.eye(8)).min() > 0.7  # neighbours are 2 sin(π/8) ≈ 0.765 apart
    assert c[2].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)


def test_grid25_modes_and_std():
    grid = toy_distribution("grid25")
    assert grid.std == 0.05
    assert sorted(map(tuple, grid.centers.tolist())) == [(float(a), float(b)) for a in (-4, -2, 0, 2, 4)
                                                       for b in (-4, -2, 0, 2, 4)]


def test_toy_sampling_is_seeded_and_has_the_right_spread():
    ring = toy_distribution("ring8")
    a = ring.sample(20000, torch.Generator().manual_seed(1))
    b = ring.sample(20000, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (20000, 2)
    resid = a - ring.centers[torch.cdist(a, ring.centers).argmin(1)]
    assert resid.std().item() == pytest.approx(0.01, rel=0.03)


def test_score_of_real_samples_matches_the_chi_square_probability():
    """A 2-D Gaussian lies within 3σ of its mean with probability 1 - e^{-9/2} ≈ 0.9889."""
    for name in ("ring8", "grid25"):
        dist = toy_distribution(name)
        s = dist.score(dist.sample(2500, torch.Generator().manual_seed(0)))
        assert s["modes"] == len(dist.centers)
        assert s["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
        assert s["reverse_kl"] < 0.02


def test_score_by_hand():
    ring = toy_distribution("ring8")
    c = ring.centers
    one = c[[0] * 10]
    assert ring.score(one) == {"modes": 1, "high_quality": 1.0, "reverse_kl": pytest.approx(math.log(8))}
    two = torch.cat([c[[0] * 5], c[[3] * 5], torch.zeros(10, 2)])  # 10 good on 2 modes, 10 at the origin
    s = ring.score(two)
    assert s["modes"] == 2 and s["high_quality"] == 0.5
    assert s["reverse_kl"] == pytest.approx(math.log(4))  # p = (½, ½): Σ ½ log(8·½) = log 4
    edge = c[:1] + torch.tensor([[0.0301, 0.0], [0.0299, 0.0]])  # just outside / inside 3σ = 0.03
    assert ring.score(edge)["high_quality"] == 0.5


def test_swissroll_matches_the_wgan_gp_recipe():
    roll = toy_distribution("swissroll")
    x = roll.sample(5000, torch.Generator().manual_seed(0))
    assert roll.centers is None and x.shape == (5000, 2)
    # noise-free radius is t/7.5 with t ∈ [1.5π, 4.5π], so points lie within about [0.63, 1.88] (+ noise)
    r = x.norm(dim=1)
    assert 0.4 < r.min() and r.max() < 2.2
    with pytest.raises(ValueError, match="no discrete modes"):
        roll.score(x)


def test_unknown_toy_name():
    with pytest.raises(ValueError, match="ring8, grid25, swissroll"):
        toy_distribution("ring7")


def test_gaussian_blur_keeps_flat_images_and_spreads_a_point():
    flat = torch.full((2, 3, 9, 9), 0.5)
    inner = gaussian_blur(flat)[:, :, 2:-2, 2:-2]
    assert torch.allclose(inner, torch.full_like(inner, 0.5), atol=1e-6)  # weights sum to 1
    dot = torch.full((1, 1, 9, 9), -1.0)
    dot[0, 0, 4, 4] = 1.0  # one bright pixel: 2 above background
    out = gaussian_blur(dot, sigma=1.0)
    g = [math.exp(-d * d / 2) for d in (-2, -1, 0, 1, 2)]
    centre = 2 * g[2] * g[2] / sum(g) ** 2 - 1
    assert out[0, 0, 4, 4].item() == pytest.approx(centre, rel=1e-5)
    assert out[0, 0, 0, 0].item() == -1.0  # far corner untouched
