"""One training loop for every GAN of the chapter.

A variant only changes two things: the loss pair (`GANLoss`) and the Lipschitz constraint
that comes with it (`GANLoss.constraint`: weight clipping, gradient penalty or none). The
loop below never branches on the loss's name.

`Trainer` holds the state and exposes single updates (`critic_step`, `generator_step`), which
the interactive GAN Lab drives one click at a time; `train()` runs many of them with logging,
sample grids, checkpoints and callbacks.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import distributed
from .checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from .data import ImageData, ToyDistribution
from .losses import clip_weights_, get_loss, gradient_penalty
from .models import model_spec


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults follow the DCGAN recipe."""

    loss: str = "nonsaturating"  # the practical default since Goodfellow et al. 2014
    steps: int = 1000  # generator updates; each follows n_critic critic updates
    batch_size: int = 64  # DCGAN recipe
    n_critic: int = 1  # critic updates per generator update; the WGAN papers use 5
    lr_g: float = 2e-4  # DCGAN recipe
    lr_d: float = 2e-4  # DCGAN recipe
    betas: tuple[float, float] = (0.5, 0.999)  # DCGAN recipe; WGAN-GP uses (0.5, 0.9)
    optimizer: str = "adam"  # "rmsprop" is what the original WGAN paper used with clipping
    clip_value: float = 0.01  # the WGAN paper's c
    gp_weight: float = 10.0  # the WGAN-GP paper's λ on images (its toy code uses 0.1)
    real_label: float = 1.0  # < 1 gives one-sided label smoothing (Salimans et al. use 0.9)
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs, annealed linearly to 0
    lr_decay: str = "none"  # "linear" anneals both learning rates to 0: sharper modes at the end
    aux_weight: float = 0.0  # > 0: AC-GAN class loss (D built with aux_classifier); d_loss and g_loss include it
    seed: int = 0  # seeds the data order, the noise and the penalty's α
    device: str = "auto"  # "auto" picks CUDA, then MPS, then CPU
    log_every: int = 50  # how often losses are copied to the CPU (each copy waits for the device)
    sample_every: int = 0  # write a fixed-noise sample grid every N steps (0: only at the end)
    checkpoint_every: int = 500  # with out_dir: an interrupted run loses at most this many steps (0: only at the end)
    out_dir: str | None = None  # where grids and checkpoints go; None writes nothing
    num_samples: int = 64  # size of the fixed-noise grid
    progress: bool = True  # show a tqdm progress bar
    amp: bool = False  # bf16 autocast for forward passes (CUDA; CPUs with bf16 too); losses and the penalty stay float32
    channels_last: bool = False  # NHWC layout for convolutional models: faster convolutions on recent GPUs
    compile: bool = False  # torch.compile the forward passes (the penalty's double backward runs uncompiled)
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over every rank's batch (CUDA only)
    num_workers: int = 2  # DataLoader processes that read a streamed image folder (CachedImageFolder)


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA, then Apple's MPS, then CPU; other names are checked, not trusted."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"Unknown device {name!r}; use 'auto', 'cpu', 'cuda' or 'mps'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but PyTorch sees no CUDA GPU here; use device='auto'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for, but MPS is not available here; use device='auto'.")
    return dev


def _check_config(c: TrainConfig) -> None:
    get_loss(c.loss)  # raises on an unknown name, listing the valid ones
    positive = dict(steps=c.steps, batch_size=c.batch_size, n_critic=c.n_critic, lr_g=c.lr_g, lr_d=c.lr_d,
                    log_every=c.log_every, num_samples=c.num_samples)
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"TrainConfig.{key} must be positive; got {value!r}")
    if c.lr_decay not in ("none", "linear"):
        raise ValueError(f"TrainConfig.lr_decay must be 'none' or 'linear'; got {c.lr_decay!r}")
    if c.optimizer not in ("adam", "rmsprop"):
        raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'rmsprop'; got {c.optimizer!r}")
    if not (0.0 < c.real_label <= 1.0):
        raise ValueError(f"TrainConfig.real_label must be in (0, 1]; got {c.real_label}")
    if c.aux_weight < 0:
        raise ValueError(f"TrainConfig.aux_weight must not be negative; got {c.aux_weight}")
    if c.instance_noise < 0 or c.sample_every < 0 or c.checkpoint_every < 0 or c.num_workers < 0:
        raise ValueError("instance_noise, sample_every, checkpoint_every and num_workers must not be negative")
    if len(c.betas) != 2 or not all(0.0 <= b < 1.0 for b in c.betas):
        raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1); got {c.betas!r}")


# ----------------------------------------------------------------------------- history

HISTORY_KEYS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "gp", "seconds")


@dataclass
class History:
    """The logged training curve: one record per logged step.

    d_real / d_fake are the mean raw outputs D(x), D(G(z)) of the last critic update: logits
    for the probabilistic losses (σ of them is the DCGAN example's "D(x)"), critic scores for
    the Wasserstein ones.
    """

    records: list[dict] = field(default_factory=list)

    def append(self, record: dict) -> None:
        self.records.append(record)

    def as_dict(self) -> dict[str, list]:
        return {k: [r[k] for r in self.records] for k in HISTORY_KEYS}

    def to_csv(self, path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=HISTORY_KEYS)
            w.writeheader()
            w.writerows(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        return [r[key] for r in self.records]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; training stopped before writing a bad checkpoint."""


# ----------------------------------------------------------------------------- data in memory

class _Batches:
    """Random minibatches (drawn with replacement) from tensors held on the training device, or
    streamed through a DataLoader from a Dataset of uint8 images (e.g. a CachedImageFolder)."""

    def __init__(self, data, device: torch.device, conditional: bool, channels_last: bool = False,
                 batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        self.toy = data if isinstance(data, ToyDistribution) else None
        self.stream = None
        self.channels_last = channels_last
        if isinstance(data, torch.utils.data.Dataset):  # e.g. a CachedImageFolder: streamed, not held in memory
            self._init_stream(data, device, conditional, batch_size, seed, num_workers)
        elif self.toy is not None:
            if conditional:
                raise ValueError("A conditional model needs labelled data; a ToyDistribution has no labels.")
            if channels_last:
                raise ValueError("channels_last is for image data; a ToyDistribution has 2-D points.")
            self.x = self.y = None
        else:
            if isinstance(data, ImageData):
                x, y = data.images, data.labels
            elif isinstance(data, Tensor):
                x, y = data, None
            elif isinstance(data, (tuple, list)) and len(data) == 2:
                x, y = data
            else:
                raise ValueError("data must be an ImageData, a ToyDistribution, a tensor of samples or a "
                                 f"(samples, labels) pair; got {type(data).__name__}")
            if not isinstance(x, Tensor) or x.ndim < 2 or len(x) == 0:
                raise ValueError("samples must be a non-empty tensor of shape (N, ...)")
            if y is not None and (not isinstance(y, Tensor) or y.shape != (len(x),)):
                raise ValueError(f"labels must be a tensor of shape ({len(x)},) to match the samples")
            if conditional and y is None:
                raise ValueError("The generator is conditional (num_classes set) but the data has no labels; "
                                 "pass an ImageData or a (samples, labels) pair.")
            self.x = x.to(device, torch.float32)  # the whole dataset lives on the device
            if channels_last:
                if self.x.ndim != 4:
                    raise ValueError("channels_last is for image data (N, C, H, W); this data has shape "
                                     f"{tuple(self.x.shape)}.")
                self.x = self.x.contiguous(memory_format=torch.channels_last)
            self.y = y.to(device, torch.int64) if (conditional and y is not None) else None
        self.device = device

    def _init_stream(self, data, device, conditional, batch_size, seed, num_workers) -> None:
        from torch.utils.data import DataLoader, RandomSampler

        if len(data) == 0:
            raise ValueError("The dataset is empty.")
        self.stream, self.batch_size, self.device = data, batch_size, device
        self.conditional = conditional
        sampler = RandomSampler(data, replacement=True, num_samples=2 ** 62,  # endless, with replacement
                                generator=torch.Generator().manual_seed(seed))
        self.loader = DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                                 pin_memory=device.type == "cuda", drop_last=True,
                                 persistent_workers=num_workers > 0)
        self._it = None  # workers start at the first batch, not at construction

    def _to_device(self, imgs: Tensor) -> Tensor:
        x = imgs.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)  # uint8 → [-1, 1]
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _sample_stream(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor | None]:
        if n == self.batch_size:
            if self._it is None:
                self._it = iter(self.loader)
            imgs, labels = next(self._it)  # (B, C, H, W) uint8, (B,)
        else:  # an odd-sized draw (shape checks): read it directly
            idx = torch.randint(len(self.stream), (n,), generator=gen).tolist()
            items = [self.stream[i] for i in idx]
            imgs, labels = torch.stack([im for im, _ in items]), torch.tensor([lb for _, lb in items])
        y = labels.to(self.device, torch.int64) if self.conditional else None
        return self._to_device(imgs), y

    def sample(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor | None]:
        if self.stream is not None:
            return self._sample_stream(n, gen)
        if self.toy is not None:
            return self.toy.sample(n, gen).to(self.device), None  # (n, 2)
        idx = torch.randint(len(self.x), (n,), generator=gen).to(self.device)  # (n,)
        return self.x[idx], (self.y[idx] if self.y is not None else None)  # (n, ...), (n,)


# ----------------------------------------------------------------------------- callbacks

class Callback:
    """Hooks into `train`. Return True from `on_step_end` to stop training early."""

    def on_train_start(self, trainer: "Trainer") -> None: ...

    def on_step_end(self, trainer: "Trainer") -> bool | None: ...

    def on_log(self, trainer: "Trainer", record: dict) -> None: ...

    def on_train_end(self, trainer: "Trainer") -> None: ...


# ----------------------------------------------------------------------------- the trainer

class Trainer:
    """The state of a GAN training run and its two kinds of update."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, data, config: TrainConfig | None = None):
        self.config = config = config if config is not None else TrainConfig()
        _check_config(config)
        if not isinstance(getattr(generator, "latent_dim", None), int):
            raise ValueError("The generator needs an int attribute `latent_dim` (the size of z).")
        self.loss = get_loss(config.loss)
        device = resolve_device(config.device)
        self.dist = distributed.setup(device)  # one process unless launched by torchrun
        self.device = distributed.device_for(device, self.dist)
        self.G, self.D = generator.to(self.device), discriminator.to(self.device)
        self.num_classes = getattr(generator, "num_classes", None)
        self.batches = _Batches(data, self.device, conditional=self.num_classes is not None,
                                channels_last=config.channels_last, batch_size=config.batch_size,
                                seed=distributed.rank_seed(config.seed, self.dist.rank), num_workers=config.num_workers)
        if config.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # Every random draw of the loop comes from this generator; each rank has its own stream.
        self.gen = torch.Generator().manual_seed(distributed.rank_seed(config.seed, self.dist.rank))
        torch.manual_seed(config.seed)  # and the global RNG, for user models that draw (dropout)
        self._wrap_models()
        opt = self._make_optimizer
        self.opt_g, self.opt_d = opt(self.G.parameters(), config.lr_g), opt(self.D.parameters(), config.lr_d)
        fixed = torch.Generator().manual_seed(config.seed + 1)  # separate stream: the grid does not shift the data
        self.fixed_z = torch.randn(config.num_samples, generator.latent_dim, generator=fixed)  # (S, nz)
        self.fixed_labels = (torch.arange(config.num_samples) % self.num_classes
                             if self.num_classes else None)  # (S,): rows of the grid cycle through the classes
        self.step = 0  # completed generator updates
        self.history = History()
        self.seconds = 0.0  # training time of earlier (resumed) runs
        self.last: dict[str, Tensor] = {}  # latest losses as device tensors; read only when logging
        self._check_shapes()
        if config.aux_weight > 0 and (self.num_classes is None or getattr(discriminator, "aux", None) is None):
            raise ValueError("TrainConfig.aux_weight > 0 needs a conditional generator and a discriminator with an "
                             "auxiliary classifier, e.g. make_gan('dcgan', ..., label_mode='projection', "
                             "aux_classifier=True).")

    def _wrap_models(self) -> None:
        """The modules each update calls: DDP (under torchrun) and torch.compile wrap the raw G and D.

        self.G / self.D stay the plain modules: state dicts, sampling and checkpoints use them.
        """
        c = self.config
        if c.amp and self.device.type not in ("cuda", "cpu"):
            raise ValueError(f"amp=True supports CUDA and CPU; got device {self.device}.")
        self._g_train, self._d_train, self._d_frozen = self.G, self.D, self.D
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            if c.sync_batchnorm:
                if self.device.type != "cuda":
                    raise ValueError("sync_batchnorm=True needs CUDA GPUs: PyTorch's SyncBatchNorm has no CPU "
                                     "kernel. Leave it off on the CPU.")
                self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
                self.D = nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._g_train = DDP(self.G, device_ids=ids)  # G's gradients are averaged in the generator step
            self._d_train = DDP(self.D, device_ids=ids)  # D's in the critic step
            self._d_frozen = self.D  # the generator step needs no D gradients, so no DDP sync either
        self._d_penalty = self._d_train  # double backward does not go through torch.compile
        if c.compile:
            self._g_train, self._d_train = torch.compile(self._g_train), torch.compile(self._d_train)
            self._d_frozen = torch.compile(self._d_frozen)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.amp)

    def _make_optimizer(self, params, lr):
        c = self.config
        if c.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=tuple(c.betas))

    def _check_shapes(self) -> None:
        """Fail early, in words, if the generator's output does not look like the data."""
        x, y = self.batches.sample(2, torch.Generator().manual_seed(0))
        was_training = self.G.training
        self.G.eval()
        with torch.no_grad():
            out = self.G(self.fixed_z[:2].to(self.device), *self._labels(y))
        self.G.train(was_training)
        if out.shape[1:] != x.shape[1:]:
            raise ValueError(f"The generator makes samples of shape {tuple(out.shape[1:])} but the data has "
                             f"shape {tuple(x.shape[1:])}. Build the models for this data (e.g. image_size, "
                             "channels) or resize it with load_images(..., image_size=...).")

    def _labels(self, y: Tensor | None) -> tuple:
        return (y,) if self.num_classes is not None else ()

    def _noisy(self, x: Tensor) -> Tensor:
        """Instance noise: blur both distributions so that their supports overlap (Sønderby et al.)."""
        c = self.config
        if c.instance_noise <= 0:
            return x
        sigma = c.instance_noise * max(0.0, 1.0 - self.step / c.steps)  # linear anneal to 0
        return x + sigma * torch.randn(x.shape, generator=self.gen).to(x.device)

    def _z(self, n: int) -> Tensor:
        return torch.randn(n, self.G.latent_dim, generator=self.gen).to(self.device)  # (n, nz)

    @staticmethod
    def _scores(d, x: Tensor, labels: tuple, with_classes: bool = False) -> tuple[Tensor, Tensor | None]:
        """D's scores (B,) in float32 and, with_classes, its AC-GAN class logits (B, K) in float32 too."""
        if not with_classes:
            return d(x, *labels).float(), None
        out, cls = d(x, *labels, with_classes=True)
        return out.float(), cls.float()

    def critic_step(self) -> None:
        """One update of D: minimise L_D(D(x), D(G(z))) [+ λ·GP], i.e. maximise D's objective."""
        c, B = self.config, self.config.batch_size
        x, y = self.batches.sample(B, self.gen)  # (B, ...), (B,) or None
        labels = self._labels(y)  # fakes get the real batch's labels, so the penalty's x̂ has one label
        with torch.no_grad(), self._autocast():  # no graph through G: this update must not spend work on G
            fake = self.G(self._z(B), *labels).float()  # (B, ...)
        aux = c.aux_weight > 0
        with self._autocast():
            # AC-GAN: D's class head learns from real images only, so G cannot teach it its own mistakes
            real_out, real_cls = self._scores(self._d_train, self._noisy(x), labels, with_classes=aux)  # (B,), (B, K)
            fake_out = self._d_train(self._noisy(fake), *labels).float()  # (B,)
        d_loss = self.loss.d_loss(real_out, fake_out, real_label=c.real_label)
        if aux:
            d_loss = d_loss + c.aux_weight * F.cross_entropy(real_cls, y)  # + w · CE(class head(x), y)
        total = d_loss
        if self.loss.constraint == "gp":  # in float32: squared gradient norms lose too much in bf16
            gp = gradient_penalty(self._d_penalty, x, fake, *labels, generator=self.gen)
            total = d_loss + c.gp_weight * gp
            self.last["gp"] = gp.detach()
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        if self.loss.constraint == "clip":
            clip_weights_(self.D, c.clip_value)  # in place, after the step: the constraint must hold for the next one
        self.last.update(d_loss=d_loss.detach(), d_real=real_out.detach().mean(), d_fake=fake_out.detach().mean())

    def generator_step(self) -> None:
        """One update of G: minimise L_G(D(x), D(G(z))) with D held fixed."""
        B = self.config.batch_size
        x, y = self.batches.sample(B, self.gen)  # a fresh real batch (the relativistic losses need D(x))
        labels = self._labels(y)
        d_params = [p for p in self.D.parameters() if p.requires_grad]
        for p in d_params:  # D's weight gradients would be thrown away: don't compute them
            p.requires_grad_(False)
        try:
            aux = self.config.aux_weight > 0
            with self._autocast():
                fake_out, fake_cls = self._scores(self._d_frozen, self._noisy(self._g_train(self._z(B), *labels)),
                                                  labels, with_classes=aux)  # (B,), (B, K) or None
                real_out = (self._d_frozen(self._noisy(x), *labels).float()
                            if self.loss.g_uses_real else None)  # (B,)
            g_loss = self.loss.g_loss(real_out, fake_out)
            if aux:  # + w · CE(class head(G(z, y)), y): G is pushed to draw images D's head reads as y
                g_loss = g_loss + self.config.aux_weight * F.cross_entropy(fake_cls, y)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
        finally:
            for p in d_params:
                p.requires_grad_(True)
        self.last["g_loss"] = g_loss.detach()
        self.step += 1

    def train_step(self) -> None:
        """n_critic critic updates, then one generator update."""
        c = self.config
        if c.lr_decay == "linear":  # a function of the step alone, so resuming needs no scheduler state
            frac = max(0.0, 1.0 - self.step / c.steps)
            for opt, lr in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr * frac
        for _ in range(self.config.n_critic):
            self.critic_step()
        self.generator_step()

    # -- bookkeeping ---------------------------------------------------------

    def log(self, seconds: float) -> dict:
        """Copy the latest losses to the CPU (one device sync) and append them to the history."""
        keys = ("d_loss", "g_loss", "d_real", "d_fake", "gp")
        zero = torch.zeros((), device=self.device)
        values = torch.stack([self.last.get(k, zero).float() for k in keys]).tolist()
        record = {"step": self.step, **dict(zip(keys, values)), "seconds": round(seconds, 4)}
        bad = [k for k in keys if not math.isfinite(record[k])]
        if bad:
            ckpt = Path(self.config.out_dir) / "checkpoint.pt" if self.config.out_dir else None
            kept = (f"The last good checkpoint is {str(ckpt)!r}." if ckpt and ckpt.exists()
                    else "No checkpoint was written.")
            raise TrainingDiverged(f"Training diverged at step {self.step}: {', '.join(bad)} became "
                                   f"{record[bad[0]]}. {kept} Try a lower learning rate, a gradient penalty, "
                                   "or a loss with bounded gradients.")
        self.history.append(record)
        return record

    @torch.no_grad()
    def sample(self, n: int | None = None) -> Tensor:
        """Samples from the fixed noise (comparable across steps), generated in eval mode."""
        n = n or self.config.num_samples
        was_training = self.G.training
        self.G.eval()
        labels = () if self.fixed_labels is None else (self.fixed_labels[:n].to(self.device),)
        out = self.G(self.fixed_z[:n].to(self.device), *labels).cpu()
        self.G.train(was_training)
        return out

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": {"loop": self.gen.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "ranks": distributed.gather_objects(self.gen.get_state(), self.dist)},  # collective
            "world_size": self.dist.world_size,
            "fixed_z": self.fixed_z, "fixed_labels": self.fixed_labels,
            "config": asdict(self.config),
            "model": {"generator": model_spec(self.G), "discriminator": model_spec(self.D)},
            "history": self.history.records, "seconds": self.seconds,
        }

    def save(self, path) -> Path:
        """Atomic checkpoint of everything needed to resume exactly (all ranks call it; rank 0 writes)."""
        state = self.state_dict()  # collective under torchrun: gathers every rank's generator state
        if self.dist.is_main:
            save_checkpoint(path, state)
        distributed.barrier(self.dist)  # nobody reads the file before it is complete
        return Path(path)

    def load(self, path) -> None:
        """Resume from a checkpoint written by `save`; refuses one from another model or loss."""
        state = load_checkpoint(path)
        src = str(path)
        for what, model in (("generator", self.G), ("discriminator", self.D)):
            saved = state["model"][what]
            if saved["class"] != type(model).__name__ or (saved["hparams"] is not None and
                                                          saved["hparams"] != model_spec(model)["hparams"]):
                raise ValueError(f"Checkpoint {src!r} holds a {what} {saved['class']}({saved['hparams']}) but "
                                 f"this run built {type(model).__name__}({model_spec(model)['hparams']}). "
                                 "Build the same model to resume, or start a new run.")
        if state["config"]["loss"] != self.config.loss:
            raise ValueError(f"Checkpoint {src!r} was trained with loss {state['config']['loss']!r}, "
                             f"but the config asks for {self.config.loss!r}. Resume with the same loss.")
        load_state_strict(self.G, state["generator"], "generator", src)
        load_state_strict(self.D, state["discriminator"], "discriminator", src)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        ranks = state["rng"].get("ranks", [state["rng"]["loop"]])
        if len(ranks) == self.dist.world_size:
            self.gen.set_state(ranks[self.dist.rank])  # same world size: every rank continues its own stream
        else:  # another world size: the data streams cannot continue; start fresh ones, seeded by step
            self.gen.manual_seed(distributed.rank_seed(self.config.seed, self.dist.rank) + 7919 * state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.fixed_z, self.fixed_labels = state["fixed_z"], state["fixed_labels"]
        self.step, self.seconds = state["step"], state["seconds"]
        self.history = History(list(state["history"]))

    def fit(self, callbacks=(), resume_from=None) -> History:
        """Train until `config.steps` generator updates, logging, sampling and checkpointing on the way.

        Under torchrun every rank runs this; only rank 0 shows progress and writes files.
        """
        from tqdm.auto import tqdm

        c, main = self.config, self.dist.is_main
        if resume_from is not None:
            self.load(resume_from)
        out = Path(c.out_dir) if c.out_dir else None
        if out and main:
            out.mkdir(parents=True, exist_ok=True)
        for cb in callbacks:
            cb.on_train_start(self)
        t0, base = time.perf_counter(), self.seconds
        bar = tqdm(total=c.steps, initial=self.step, disable=not (c.progress and main), desc=f"{c.loss}", unit="step")
        stop = False
        while self.step < c.steps and not stop:
            self.train_step()
            bar.update(1)
            last_step = self.step == c.steps
            if self.step % c.log_every == 0 or last_step:
                record = self.log(base + time.perf_counter() - t0)
                bar.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}")
                for cb in callbacks:
                    cb.on_log(self, record)
            for cb in callbacks:
                stop = bool(cb.on_step_end(self)) or stop
            if callbacks and self.dist.enabled:  # every rank must stop at the same step
                stop = any(distributed.gather_objects(stop, self.dist))
            if out and main and c.sample_every and self.step % c.sample_every == 0:
                _save_samples(self, out / "samples" / f"step_{self.step:06d}.png")
            if out and c.checkpoint_every and self.step % c.checkpoint_every == 0 and not last_step:
                if self.step % c.log_every:  # make sure the state is finite before it replaces a good file
                    self.log(base + time.perf_counter() - t0)
                self.seconds = base + time.perf_counter() - t0
                self.save(out / "checkpoint.pt")
        bar.close()
        self.seconds = base + time.perf_counter() - t0
        if stop and (not self.history.records or self.history.records[-1]["step"] != self.step):
            self.log(self.seconds)  # a run stopped early still ends with a record of where it stopped
        if out:
            self.save(out / "checkpoint.pt")
            if main:
                self.history.to_csv(out / "history.csv")
                _save_samples(self, out / "samples.png")
        for cb in callbacks:
            cb.on_train_end(self)
        return self.history


def _save_samples(trainer: Trainer, path: Path) -> None:
    from .plotting import save_samples

    path.parent.mkdir(parents=True, exist_ok=True)
    toy = trainer.batches.toy
    kwargs = {}
    if toy is not None:  # scatter over a real sample, so the plot shows which modes are covered
        kwargs = dict(real=toy.sample(1000, torch.Generator().manual_seed(0)), centers=toy.centers,
                      title=f"step {trainer.step}")
    save_samples(trainer.sample(), path, **kwargs)


def train(generator: nn.Module, discriminator: nn.Module, data, config: TrainConfig | None = None,
          callbacks=(), resume_from=None) -> History:
    """Train a GAN; see `TrainConfig` for the knobs and `Trainer` for the updates.

    data: an ImageData, a ToyDistribution, a tensor of samples, a (samples, labels) pair, or a
    Dataset of (uint8 image, label) items such as a CachedImageFolder, streamed by a DataLoader.
    resume_from: a checkpoint written by an earlier run; training continues to config.steps.
    """
    return Trainer(generator, discriminator, data, config).fit(callbacks, resume_from=resume_from)
