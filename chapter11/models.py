"""Generators and discriminators of the chapter.

Conventions shared by every model here, which the trainer relies on:
- a generator has `latent_dim` and `num_classes` (None when unconditional) and is called as
  G(z) or G(z, labels) with z of shape (B, latent_dim);
- a discriminator returns one raw score per sample, shape (B,): a logit or a critic value,
  never a probability (losses apply the sigmoid inside a numerically stable BCE);
- `hparams` holds the constructor arguments, so a checkpoint can rebuild the model.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class _Conditioning(nn.Module):
    """Turns integer labels into a vector: a one-hot code or a learned embedding."""

    def __init__(self, num_classes: int, mode: str, dim: int):
        super().__init__()
        if mode not in ("onehot", "embedding"):
            raise ValueError(f"label_mode must be 'onehot' or 'embedding' (and 'projection' for a DCGAN discriminator); "
                             f"got {mode!r}")
        self.num_classes, self.mode = num_classes, mode
        self.dim = num_classes if mode == "onehot" else dim
        self.embed = nn.Embedding(num_classes, dim) if mode == "embedding" else None

    def forward(self, labels: Tensor) -> Tensor:  # labels (B,), checked by _Conditional._check_labels
        if self.embed is not None:
            return self.embed(labels)  # (B, dim)
        return F.one_hot(labels.long(), self.num_classes).float()  # (B, K)


class _Conditional(nn.Module):
    """Shared bookkeeping: remember hparams, and check that labels come iff the model is conditional."""

    num_classes: int | None

    def _check_labels(self, x: Tensor, labels: Tensor | None) -> None:
        """Labels come iff the model is conditional: one integer in [0, num_classes) per sample of x."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional (num_classes=None) but got labels.")
            return
        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional (num_classes={self.num_classes}); "
                             "call it as model(x, labels).")
        if labels.shape != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},) to match the batch; got {tuple(labels.shape)}")
        if labels.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"labels must be a 1-D integer tensor; got dtype {labels.dtype}")
        # Range check on the CPU only: on a GPU, reading min/max would stall every training step.
        if labels.device.type == "cpu" and len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}); "
                             f"got {labels.min().item()}..{labels.max().item()}")

    def _cond(self, x: Tensor, labels: Tensor | None) -> Tensor | None:
        self._check_labels(x, labels)
        return None if self.num_classes is None else self.cond(labels)


def _mlp(sizes: list[int], act: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act)
    return layers


# ----------------------------------------------------------------------------- the chapter's MLPs

class MLPGenerator(_Conditional):
    """z (100) → 256 → 512 → 1024 → 784, ReLU between layers and tanh at the end (the chapter's G).

    norm="batch" adds BatchNorm1d after each hidden layer and act="leaky" uses LeakyReLU(0.2):
    the common PyTorch MLP-GAN recipe (make_gan kind "mlp-bn"). On the 5,000 mnist-5k digits the
    chapter's plain G collapses to one image with the non-saturating loss; BatchNorm is what stops
    that (benchmarks/mlp_ablation.py).
    """

    def __init__(self, latent_dim: int = 100, hidden: tuple[int, ...] = (256, 512, 1024),
                 image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int | None = None,
                 label_mode: str = "onehot", embed_dim: int = 16, norm: str = "none", act: str = "relu"):
        super().__init__()
        if norm not in ("none", "batch"):
            raise ValueError(f"MLPGenerator norm must be 'none' or 'batch'; got {norm!r}")
        if act not in ("relu", "leaky"):
            raise ValueError(f"MLPGenerator act must be 'relu' or 'leaky'; got {act!r}")
        self.hparams = dict(latent_dim=latent_dim, hidden=tuple(hidden), image_shape=tuple(image_shape),
                            num_classes=num_classes, label_mode=label_mode, embed_dim=embed_dim, norm=norm, act=act)
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        self.cond = _Conditioning(num_classes, label_mode, embed_dim) if num_classes else None
        in_dim = latent_dim + (self.cond.dim if self.cond else 0)
        sizes = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers.append(nn.Linear(a, b))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(b))  # keeps every unit's scale steady as D's gradients shift
            layers.append(nn.ReLU() if act == "relu" else nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], math.prod(image_shape)), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self._cond(z, labels)
        h = z if c is None else torch.cat([z, c], dim=1)  # (B, latent_dim [+ K])
        return self.net(h).view(-1, *self.image_shape)  # (B, C, H, W) in [-1, 1]


class MLPDiscriminator(_Conditional):
    """784 → 512 → 256 → 1 with LeakyReLU(0.2) (the chapter's D), returning logits of shape (B,)."""

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), hidden: tuple[int, ...] = (512, 256),
                 num_classes: int | None = None, label_mode: str = "onehot", embed_dim: int = 16):
        super().__init__()
        self.hparams = dict(image_shape=tuple(image_shape), hidden=tuple(hidden), num_classes=num_classes,
                            label_mode=label_mode, embed_dim=embed_dim)
        self.num_classes = num_classes
        self.cond = _Conditioning(num_classes, label_mode, embed_dim) if num_classes else None
        in_dim = math.prod(image_shape) + (self.cond.dim if self.cond else 0)
        self.net = nn.Sequential(*_mlp([in_dim, *hidden, 1], nn.LeakyReLU(0.2)))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self._cond(x, labels)
        h = x.flatten(1)  # (B, C*H*W)
        if c is not None:
            h = torch.cat([h, c], dim=1)  # (B, C*H*W + K)
        return self.net(h).squeeze(1)  # (B,)


# ----------------------------------------------------------------------------- 2-D toy MLPs

class ToyGenerator(_Conditional):
    """2-D noise → depth × width ReLU MLP → 2-D point (the WGAN-GP authors' toy generator is 3 × 512)."""

    def __init__(self, latent_dim: int = 2, width: int = 256, depth: int = 3, out_dim: int = 2,
                 num_classes: int | None = None, label_mode: str = "onehot", embed_dim: int = 16):
        super().__init__()
        self.hparams = dict(latent_dim=latent_dim, width=width, depth=depth, out_dim=out_dim,
                            num_classes=num_classes, label_mode=label_mode, embed_dim=embed_dim)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.cond = _Conditioning(num_classes, label_mode, embed_dim) if num_classes else None
        in_dim = latent_dim + (self.cond.dim if self.cond else 0)
        self.net = nn.Sequential(*_mlp([in_dim] + [width] * depth + [out_dim], nn.ReLU()))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self._cond(z, labels)
        return self.net(z if c is None else torch.cat([z, c], dim=1))  # (B, 2), unbounded: no tanh


class ToyDiscriminator(_Conditional):
    """2-D point → depth × width ReLU MLP → one raw score.

    pack > 1 is PacGAN's packing: D judges `pack` samples at once, concatenated, and returns
    one score per pack, shape (B / pack,). A collapsed generator makes packs that look alike,
    which a packed D can spot, so packing penalises mode collapse (Lin et al. 2018).
    """

    def __init__(self, in_dim: int = 2, width: int = 256, depth: int = 3, num_classes: int | None = None,
                 label_mode: str = "onehot", embed_dim: int = 16, pack: int = 1):
        super().__init__()
        self.hparams = dict(in_dim=in_dim, width=width, depth=depth, num_classes=num_classes,
                            label_mode=label_mode, embed_dim=embed_dim, pack=pack)
        self.num_classes, self.pack = num_classes, pack
        self.cond = _Conditioning(num_classes, label_mode, embed_dim) if num_classes else None
        d = (in_dim + (self.cond.dim if self.cond else 0)) * pack
        self.net = nn.Sequential(*_mlp([d] + [width] * depth + [1], nn.ReLU()))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self._cond(x, labels)
        h = x if c is None else torch.cat([x, c], dim=1)  # (B, in [+ K])
        if self.pack > 1:
            if h.shape[0] % self.pack:
                raise ValueError(f"A packed discriminator (pack={self.pack}) needs a batch size divisible by "
                                 f"{self.pack}; got {h.shape[0]}.")
            h = h.reshape(h.shape[0] // self.pack, -1)  # (B / pack, pack · in)
        return self.net(h).squeeze(1)  # (B / pack,)


# ----------------------------------------------------------------------------- DCGAN

def dcgan_init_(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02); norm weights N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _stages(image_size: int) -> tuple[int, int]:
    """(size of the smallest feature map, number of ×2 up/down-sampling stages) for a square image."""
    if image_size == 28:
        return 7, 2  # 7 → 14 → 28
    if image_size in (32, 64):
        return 4, int(math.log2(image_size // 4))  # 4 → 8 → 16 (→ 32 → 64)
    raise ValueError(f"DCGAN models support image_size 28, 32 or 64; got {image_size}. "
                     "Resize the data with load_images(..., image_size=32 or 64).")


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # LayerNorm over (C, H, W): per-sample, so it is safe under a gradient penalty
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'layer' or 'none'; got {kind!r}")


class DCGANGenerator(_Conditional):
    """z → ConvT(4, 1, 0) to the smallest map → [ConvT 4/2/1 + BN + ReLU]* → ConvT 4/2/1 → tanh.

    Output size of each ConvT: O = (I - 1)·s - 2p + k, e.g. (4 - 1)·2 - 2 + 4 = 8.
    For 28×28 the first layer is a 7×7 kernel (O = 7), then 7 → 14 → 28.
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 32, channels: int = 1, width: int = 64,
                 num_classes: int | None = None, label_mode: str = "onehot", embed_dim: int = 16):
        super().__init__()
        self.hparams = dict(latent_dim=latent_dim, image_size=image_size, channels=channels, width=width,
                            num_classes=num_classes, label_mode=label_mode, embed_dim=embed_dim)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.image_shape = (channels, image_size, image_size)
        self.cond = _Conditioning(num_classes, label_mode, embed_dim) if num_classes else None
        start, n_up = _stages(image_size)
        ch = width * 2 ** (n_up - 1)  # widest at the smallest map, halving at each ×2 stage
        in_ch = latent_dim + (self.cond.dim if self.cond else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_ch, ch, start, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        c = self._cond(z, labels)
        h = z if c is None else torch.cat([z, c], dim=1)  # (B, nz [+ K])
        return self.net(h[:, :, None, None])  # (B, C, H, W)


class DCGANDiscriminator(_Conditional):
    """[Conv 4/2/1 + norm + LeakyReLU(0.2)]* → Conv to one score; no norm on the first layer.

    Conditional models see the label as extra input channels: K one-hot planes, or one
    learned embedding reshaped to an H×W plane (label_mode="embedding"). With
    label_mode="projection" (Miyato & Koyama 2018) the label enters at the end instead:
    D(x, y) = ψ(φ(x)) + e_yᵀ Σ_{h,w} φ(x), φ the last feature map and e_y a learned per-class
    vector, so "is it real" and "does it match y" share the same features.
    aux_classifier=True (projection only) adds an AC-GAN head (Odena et al. 2017): class logits
    W Σ_{h,w} φ(x) + b, returned as a second output by D(x, y, with_classes=True); the trainer
    uses them when TrainConfig.aux_weight > 0.
    norm: "batch" for the standard DCGAN; use "layer" or "none" with a gradient penalty,
    which is defined per sample and is distorted by batch statistics.
    """

    def __init__(self, image_size: int = 32, channels: int = 1, width: int = 64, norm: str = "batch",
                 num_classes: int | None = None, label_mode: str = "onehot", embed_dim: int = 16,
                 aux_classifier: bool = False):
        super().__init__()
        self.hparams = dict(image_size=image_size, channels=channels, width=width, norm=norm,
                            num_classes=num_classes, label_mode=label_mode, embed_dim=embed_dim,
                            aux_classifier=aux_classifier)
        self.num_classes, self.image_size = num_classes, image_size
        start, n_down = _stages(image_size)
        self.cond, self.project, self.aux, cond_ch = None, None, None, 0
        if aux_classifier and not (num_classes and label_mode == "projection"):
            raise ValueError("aux_classifier=True needs num_classes and label_mode='projection': a D that sees "
                             "the label among its inputs could classify by reading it back.")
        if num_classes and label_mode == "projection":
            self.project = nn.Embedding(num_classes, width * 2 ** (n_down - 1))  # one vector per class, φ's width
            if aux_classifier:
                self.aux = nn.Linear(width * 2 ** (n_down - 1), num_classes)  # AC-GAN's class head on Σφ
        elif num_classes:
            # An embedding becomes one image-sized plane, so it has image_size² entries.
            self.cond = _Conditioning(num_classes, label_mode, image_size * image_size)
            cond_ch = num_classes if label_mode == "onehot" else 1
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels + cond_ch, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), _norm2d(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, start, 1, 0, bias=False)]  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if self.project is not None:
            nn.init.normal_(self.project.weight, 0.0, 0.02)  # small, like every other weight: starts near ψ alone

    def forward(self, x: Tensor, labels: Tensor | None = None, with_classes: bool = False):
        if with_classes and self.aux is None:
            raise ValueError("with_classes=True needs a discriminator built with aux_classifier=True.")
        if self.project is not None:
            self._check_labels(x, labels)
            phi = self.net[:-1](x)  # (B, ch, s, s): the features before the last conv
            pooled = phi.sum(dim=(2, 3))  # (B, ch)
            psi = self.net[-1](phi).view(-1)  # (B,) the unconditional "is it real" score
            score = psi + (self.project(labels) * pooled).sum(1)  # (B,) ψ + e_yᵀ Σ φ
            return (score, self.aux(pooled)) if with_classes else score  # (B,), (B, K)
        c = self._cond(x, labels)
        if c is not None:
            B, _, H, W = x.shape
            if self.cond.mode == "onehot":
                planes = c[:, :, None, None].expand(B, c.shape[1], H, W)  # (B, K, H, W)
            else:
                planes = c.view(B, 1, H, W)  # (B, 1, H, W)
            x = torch.cat([x, planes], dim=1)  # (B, C + K, H, W)
        return self.net(x).view(-1)  # (B,)


MODEL_CLASSES = {cls.__name__: cls for cls in (MLPGenerator, MLPDiscriminator, ToyGenerator, ToyDiscriminator,
                                              DCGANGenerator, DCGANDiscriminator)}


def model_spec(model: nn.Module) -> dict:
    """What a checkpoint stores to rebuild a model: its class name and constructor arguments."""
    hp = getattr(model, "hparams", None)
    return {"class": type(model).__name__, "hparams": dict(hp) if hp is not None else None}


def build_model(spec: dict) -> nn.Module:
    """Rebuild a model of this module from `model_spec(model)`."""
    cls = MODEL_CLASSES.get(spec.get("class"))
    if cls is None or spec.get("hparams") is None:
        raise ValueError(f"Cannot rebuild model {spec.get('class')!r}: only {', '.join(MODEL_CLASSES)} "
                         "can be rebuilt from a checkpoint. Build your own model and load its state_dict.")
    return cls(**spec["hparams"])


def make_gan(kind: str, sample_shape: tuple[int, ...], num_classes: int | None = None,
             latent_dim: int | None = None, width: int | None = None, norm: str = "batch",
             label_mode: str = "onehot", aux_classifier: bool = False) -> tuple[nn.Module, nn.Module]:
    """Build a matching (generator, discriminator) pair for samples of `sample_shape`.

    kind: "toy" (2-D points), "mlp" (the chapter's MLPs), "mlp-bn" (the same with BatchNorm and
    LeakyReLU in G) or "dcgan" (images of size 28, 32, 64).
    Unset sizes take each family's defaults.
    """
    if aux_classifier and kind != "dcgan":
        raise ValueError("aux_classifier is implemented for the DCGAN discriminator only.")
    if label_mode == "projection" and kind != "dcgan":
        raise ValueError("label_mode 'projection' is implemented for the DCGAN discriminator only; "
                         "use 'onehot' or 'embedding' for the toy and MLP models.")
    g_mode = "onehot" if label_mode == "projection" else label_mode  # projection changes D only; G reads one-hot
    cond = dict(num_classes=num_classes, label_mode=g_mode)
    if kind == "toy":
        if tuple(sample_shape) != (2,):
            raise ValueError(f"model 'toy' is for 2-D points; the data has samples of shape {tuple(sample_shape)}")
        w = dict(width=width) if width else {}
        return (ToyGenerator(latent_dim=latent_dim or 2, **w, **cond), ToyDiscriminator(**w, **cond))
    if len(sample_shape) != 3:
        raise ValueError(f"model {kind!r} is for images (C, H, W); the data has samples of shape "
                         f"{tuple(sample_shape)}. Use model 'toy' for 2-D points.")
    C, H, W = sample_shape
    if kind in ("mlp", "mlp-bn"):
        g_kw = dict(norm="batch", act="leaky") if kind == "mlp-bn" else {}  # "mlp" is the chapter's G as written
        return (MLPGenerator(latent_dim=latent_dim or 100, image_shape=(C, H, W), **g_kw, **cond),
                MLPDiscriminator(image_shape=(C, H, W), **cond))
    if kind == "dcgan":
        if H != W:
            raise ValueError(f"DCGAN models need square images; got {H}×{W}. Resize with image_size=...")
        w = dict(width=width) if width else {}
        return (DCGANGenerator(latent_dim=latent_dim or 100, image_size=H, channels=C, **w, **cond),
                DCGANDiscriminator(image_size=H, channels=C, norm=norm, **w, num_classes=num_classes,
                                   label_mode=label_mode, aux_classifier=aux_classifier))
    raise ValueError(f"Unknown model kind {kind!r}; use 'toy', 'mlp', 'mlp-bn' or 'dcgan'.")
