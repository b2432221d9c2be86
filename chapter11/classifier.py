"""Feature extractors for the metrics: small CNN classifiers the project trains and ships.

Inception-v3 weights cannot be downloaded offline, and ImageNet features say little about
28×28 digits anyway. A small CNN trained on the same kind of images gives features whose FID
ranks models sensibly; its numbers are not comparable to published Inception FIDs, so the
course calibrates them with real-vs-real baselines.

The weights in chapter11/weights/ are reproduced by
    python -m chapter11 train-classifier --data mnist-5k --out chapter11/weights/classifier_mnist.pt
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EXTRACTORS = ("mnist", "fashion-mnist", "inception")
SHIPPED = {"mnist": "classifier_mnist.pt", "fashion-mnist": "classifier_fashion-mnist.pt"}
DATASET_OF = {"mnist": "mnist-5k", "fashion-mnist": "fashion-mnist"}


class SmallCNN(nn.Module):
    """28×28 grey image in [-1, 1] → (features (B, feature_dim), logits (B, num_classes)).

    conv 3×3 (32) → pool → conv 3×3 (64) → pool → linear (feature_dim) → linear (classes).
    Other sizes and RGB input are resized / averaged to 28×28 grey first.
    """

    def __init__(self, num_classes: int = 10, feature_dim: int = 128):
        super().__init__()
        self.hparams = dict(num_classes=num_classes, feature_dim=feature_dim)
        self.num_features = feature_dim  # torchmetrics reads this
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = _to_grey28(x)  # (B, 1, 28, 28)
        f = self.features(self.conv(x))  # (B, feature_dim)
        return f, self.head(f)  # (B, D), (B, C)


def _to_grey28(x: Tensor) -> Tensor:
    if x.ndim != 4:
        raise ValueError(f"Expected images (B, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    elif x.shape[1] != 1:
        raise ValueError(f"Expected 1 or 3 channels; got {x.shape[1]}")
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that must be downloaded could not be fetched (offline)."""


class InceptionFeatures(nn.Module):
    """torchvision's Inception-v3: images in [-1, 1] → (pool features (B, 2048), logits (B, 1000))."""

    def __init__(self):
        super().__init__()
        from torchvision.models import Inception_V3_Weights, inception_v3

        try:
            self.net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True)
        except Exception as err:  # URLError, socket errors, hash mismatch: all mean "no weights here"
            raise WeightsUnavailableError(
                "The Inception-v3 weights could not be downloaded (are you offline?). torchvision fetches them "
                "once into ~/.cache/torch; until then use feature_extractor('mnist') or "
                f"feature_extractor('fashion-mnist'), which ship with this package. ({type(err).__name__})"
            ) from None
        self.net.eval()
        self.net.fc, self.fc = nn.Identity(), self.net.fc
        self.num_features = 2048
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey → RGB
        x = F.interpolate((x + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)  # (B, 3, 299, 299)
        f = self.net((x - self.mean) / self.std)  # (B, 2048)
        return f, self.fc(f)


def feature_extractor(name: str) -> nn.Module:
    """'mnist' or 'fashion-mnist' (shipped small CNNs) or 'inception' (needs a one-time download)."""
    if name == "inception":
        return InceptionFeatures()
    if name not in SHIPPED:
        raise ValueError(f"Unknown feature extractor {name!r}. Valid names: {', '.join(EXTRACTORS)}.")
    ref = Path(__file__).resolve().parent / "weights" / SHIPPED[name]  # shipped as package data
    if not ref.is_file():
        raise FileNotFoundError(f"The shipped weights {SHIPPED[name]} are missing from the package; reproduce them "
                                f"with: python -m chapter11 train-classifier --data {DATASET_OF[name]} "
                                f"--out chapter11/weights/{SHIPPED[name]}")
    state = torch.load(ref, map_location="cpu", weights_only=True)
    model = SmallCNN(**state["hparams"])
    model.load_state_dict(state["model"])
    return model.eval()


# ----------------------------------------------------------------------------- training

AUGMENT = {  # digits must not be flipped, but tolerate rotation; clothes are symmetric left-right
    "mnist-5k": dict(degrees=10.0, scale=0.1, flip=False),
    "fashion-mnist": dict(degrees=0.0, scale=0.0, flip=True),
}


def augment(x: Tensor, gen: torch.Generator, degrees: float = 10.0, scale: float = 0.1,
             flip: bool = False) -> Tensor:
    """Random rotation (±degrees), scale (1 ± scale), shift (±2 px) and optional horizontal flip, batched."""
    B = x.shape[0]
    angle = (torch.rand(B, generator=gen) * 2 - 1) * math.radians(degrees)
    scale = 1 + (torch.rand(B, generator=gen) * 2 - 1) * scale
    mirror = torch.where(torch.rand(B, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(B)  # x → -x
    shift = (torch.rand(B, 2, generator=gen) * 2 - 1) * (2 / 14)  # 2 px in [-1, 1] grid units of 28 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # output pixel (u, v) samples the input at R(angle)/scale · (mirror·u, v) + shift
    theta = torch.stack([torch.stack([mirror * cos, -sin, shift[:, 0]], 1),
                         torch.stack([mirror * sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1  # pad with background -1


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum((model(images[i:i + batch_size])[1].argmax(1) == labels[i:i + batch_size]).sum().item()
                  for i in range(0, len(images), batch_size))
    return correct / len(images)


def train_classifier(data: str, out: str | Path, seed: int = 0, epochs: int | None = None, batch_size: int = 128,
                     lr: float = 2e-3, progress: bool = True) -> dict:
    """Train a SmallCNN with a fixed held-out split and write its weights and model card.

    mnist-5k: trains on 4,000 digits, holds out the fixed stratified 1,000 (load_images(train=False)).
    fashion-mnist: trains on the 60,000 training images, tests on the official 10,000.
    """
    from tqdm.auto import tqdm

    from .data import load_images, mnist5k_holdout_mask

    if data == "mnist-5k":
        full = load_images("mnist-5k")
        held = mnist5k_holdout_mask(full.labels)
        x_tr, y_tr, x_te, y_te = full.images[~held], full.labels[~held], full.images[held], full.labels[held]
        epochs = epochs or 40
    elif data == "fashion-mnist":
        tr, te = load_images("fashion-mnist"), load_images("fashion-mnist", train=False)
        x_tr, y_tr, x_te, y_te = tr.images, tr.labels, te.images, te.labels
        epochs = epochs or 12
    else:
        raise ValueError(f"train-classifier supports 'mnist-5k' and 'fashion-mnist'; got {data!r}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x_tr) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.perf_counter()
    bar = tqdm(total=steps, disable=not progress, desc=f"classifier {data}")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(x_tr), batch_size):
            idx = order[i:i + batch_size]
            logits = model(augment(x_tr[idx], gen, **AUGMENT[data]))[1]  # (b, 10)
            loss = F.cross_entropy(logits, y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    acc = accuracy(model, x_te, y_te)
    out = Path(out)
    save = {"hparams": model.hparams, "model": model.state_dict()}  # plain tensors: weights_only loading works
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(save, tmp)
    tmp.replace(out)  # atomic: a half-written file never replaces good weights
    card = {"data": data, "train_images": len(x_tr), "heldout_images": len(x_te), "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "seed": seed, "heldout_accuracy": round(acc, 4),
            "train_seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
            "command": f"python -m chapter11 train-classifier --data {data} --out {out.as_posix()} --seed {seed}"}
    split = ("the fixed stratified 1,000 digits of load_images('mnist-5k', train=False) (last 100 of each class "
             "in file order); trained on the other 4,000" if data == "mnist-5k" else
             "the official 10,000-image test split; trained on the 60,000 training images")
    a = AUGMENT[data]
    aug = (f"random rotation ±{a['degrees']:g}°, scale ±{a['scale']:g}, " if a["degrees"] else "") + "shift ±2 px" + \
        (", horizontal flips" if a["flip"] else "")
    out.with_suffix(".md").write_text(
        f"# Feature extractor: SmallCNN on {data}\n\n"
        f"- Data: {data}\n- Held-out split: {split}\n- Augmentation: {aug}\n- Command: `{card['command']}`\n- Seed: {seed}\n- Epochs: {epochs}, batch {batch_size}, "
        f"AdamW with one-cycle lr {lr}\n- Held-out accuracy: **{100 * acc:.2f} %**\n"
        f"- Training time on this CPU: {card['train_seconds']} s (torch {torch.__version__})\n\n"
        f"```json\n{json.dumps(card, indent=2)}\n```\n")
    return card
