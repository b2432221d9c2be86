"""Command line: `python -m chapter11 train|sample ...`.

Every failure the user can fix (an unknown name, a missing file, a bad value) ends in one
line on stderr and exit code 2; a diverged run ends with exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

SEED_HELP = "random seed for data order, noise and initialisation (default 0)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _train_parser(sub) -> None:
    from .train import TrainConfig

    defaults = TrainConfig()
    p = sub.add_parser("train", help="train a GAN and write metrics.json, history.csv, samples.png, checkpoint.pt")
    p.add_argument("--data", required=True, help="ring8, grid25, swissroll, mnist-5k, fashion-mnist, mnist, or an image folder")
    p.add_argument("--loss", default=defaults.loss, help="a name from chapter11.losses.LOSSES")
    p.add_argument("--steps", type=int, default=defaults.steps, help="generator updates")
    p.add_argument("--seed", type=int, default=defaults.seed, help=SEED_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (same arguments)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="auto", choices=["auto", "toy", "mlp", "mlp-bn", "dcgan"],
                   help="auto: toy MLPs for 2-D data, DCGAN for images")
    m.add_argument("--conditional", action="store_true", help="condition G and D on the class labels")
    m.add_argument("--label-mode", default="onehot", choices=["onehot", "embedding", "projection"],
                   help="how labels enter: one-hot planes, a learned plane, or a projection D (DCGAN)")
    m.add_argument("--image-size", type=int, default=None, help="resize images (28, 32 or 64 for the DCGAN)")
    m.add_argument("--latent-dim", type=int, default=None)
    m.add_argument("--width", type=int, default=None, help="hidden width (toy) or base channels (DCGAN)")
    m.add_argument("--norm", default="auto", choices=["auto", "batch", "layer", "none"],
                   help="DCGAN critic normalisation; auto: layer norm with a gradient penalty, else batch norm")
    m.add_argument("--root", default="data", help="where downloadable datasets live")
    m.add_argument("--download", action="store_true", help="allow downloading full MNIST (needs the internet)")
    m.add_argument("--stream", action="store_true",
                   help="image folders: decode once into a memory-mapped cache and stream it (large folders)")
    t = p.add_argument_group("training")
    for f in fields(TrainConfig):
        if f.name in ("loss", "steps", "seed", "out_dir", "progress"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "betas":
            t.add_argument(flag, type=float, nargs=2, default=list(defaults.betas))
        elif isinstance(getattr(defaults, f.name), bool):  # switches: present means True
            t.add_argument(flag, action="store_true", default=getattr(defaults, f.name))
        else:
            t.add_argument(flag, type=type(getattr(defaults, f.name)) if f.name != "device" else str,
                           default=getattr(defaults, f.name))
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_data(args):
    import os

    from .data import BUILTIN_DATASETS, TOY_DISTRIBUTIONS, load_images, toy_distribution

    if args.data in TOY_DISTRIBUTIONS:
        return toy_distribution(args.data), (2,), None
    if args.data not in BUILTIN_DATASETS and not os.path.isdir(args.data):
        raise ValueError(f"Unknown --data {args.data!r}. Valid names: {', '.join(TOY_DISTRIBUTIONS + BUILTIN_DATASETS)}, "
                         "or the path of an existing folder of images.")
    if args.stream:
        if not os.path.isdir(args.data):
            raise ValueError("--stream is for image folders; built-in datasets already fit in memory.")
        from .folder_cache import CachedImageFolder

        data = CachedImageFolder(args.data, image_size=args.image_size or 64, progress=not args.no_progress)
        if data.skipped:
            print(f"skipped {len(data.skipped)} file(s) that are not readable images", file=sys.stderr)
        return data, data.image_shape, data.num_classes
    data = load_images(args.data, root=args.root, image_size=args.image_size, download=args.download)
    return data, data.image_shape, data.num_classes


def build_run(args):
    """The data, the models and the Trainer that `train` would run with these arguments.

    `reproduce` calls this too, so a shipped model is re-trained by exactly the code that made it.
    """
    from .losses import get_loss
    from .models import make_gan
    from .train import Trainer, TrainConfig

    loss = get_loss(args.loss)
    data, shape, num_classes = _load_data(args)
    if args.conditional and not num_classes:
        raise ValueError(f"--conditional needs labelled data; {args.data!r} has no classes.")
    kind = args.model if args.model != "auto" else ("toy" if shape == (2,) else "dcgan")
    norm = args.norm if args.norm != "auto" else ("layer" if loss.constraint == "gp" else "batch")
    torch.manual_seed(args.seed)  # the initial weights come from the global RNG: --seed must decide them too
    G, D = make_gan(kind, shape, num_classes if args.conditional else None, args.latent_dim, args.width, norm,
                    args.label_mode, aux_classifier=args.aux_weight > 0)  # --aux-weight > 0 needs D's class head
    cfg_kw = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if f.name not in ("out_dir", "progress", "betas")}
    config = TrainConfig(**cfg_kw, betas=tuple(args.betas), out_dir=args.out, progress=not args.no_progress)
    return Trainer(G, D, data, config), data, kind


def cmd_train(args) -> int:
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    if args.resume and not ckpt.is_file():
        raise ValueError(f"--resume: no checkpoint at {str(ckpt)!r}; train without --resume first.")
    trainer, data, kind = build_run(args)
    G = trainer.G
    history = trainer.fit(resume_from=ckpt if args.resume else None)
    if not trainer.dist.is_main:  # under torchrun only rank 0 reports and writes
        return 0
    metrics = {"data": args.data, "loss": args.loss, "model": kind, "seed": args.seed, "steps": trainer.step,
               "seconds": round(trainer.seconds, 2), "final": history.records[-1] if history.records else None}
    centers = getattr(data, "centers", None)
    if centers is not None:  # toy data: mode coverage on the standard 2,500 samples
        trainer.G.eval()
        with torch.no_grad():
            z = torch.randn(2500, G.latent_dim, generator=torch.Generator().manual_seed(args.seed))
            samples = trainer.G(z.to(trainer.device)).cpu()
        metrics["score"] = data.score(samples)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: metrics[k] for k in ("steps", "seconds")} | ({"score": metrics["score"]}
                                                                      if "score" in metrics else {})))
    return 0


def cmd_sample(args) -> int:
    from .plotting import save_samples

    G = _generator_from_checkpoint(args.checkpoint)
    gen = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.n, G.latent_dim, generator=gen)  # (n, nz)
    labels = ()
    if G.num_classes:
        if args.label is not None and not 0 <= args.label < G.num_classes:
            raise ValueError(f"--label must be in [0, {G.num_classes - 1}]; got {args.label}")
        y = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % G.num_classes
        labels = (y,)
    elif args.label is not None:
        raise ValueError("--label given, but this generator is unconditional.")
    with torch.no_grad():
        samples = G(z, *labels)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_samples(samples, args.out)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def _generator_from_checkpoint(path):
    from .checkpoint import load_checkpoint, load_state_strict
    from .models import build_model

    state = load_checkpoint(path)
    G = build_model(state["model"]["generator"])
    load_state_strict(G, state["generator"], "generator", str(path))
    return G.eval()


def cmd_evaluate(args) -> int:
    from .data import load_images
    from .metrics import evaluate

    G = _generator_from_checkpoint(args.checkpoint)
    real = load_images(args.data, root=args.root, train=not args.heldout)
    extractor = args.extractor or ("fashion-mnist" if args.data == "fashion-mnist" else "mnist")
    print(json.dumps(evaluate(G, real, n=args.n, extractor=extractor, seed=args.seed), indent=2))
    return 0


def cmd_train_classifier(args) -> int:
    from .classifier import train_classifier

    card = train_classifier(args.data, args.out, seed=args.seed, epochs=args.epochs, progress=not args.no_progress)
    print(json.dumps(card, indent=2))
    return 0


def cmd_reproduce(args) -> int:
    from . import pretrained

    card = pretrained.card(args.name)  # an unknown name fails here, listing the valid ones
    out = args.out or f"runs/reproduce-{args.name}"
    result = pretrained.reproduce(args.name, out, stop_after=args.stop_after, install=args.install,
                                  progress=not args.no_progress, resume=args.resume)
    report = {"name": args.name, "out": out, "steps": result["steps"], "seconds": round(result["seconds"], 1)}
    if args.stop_after:
        report |= {"card_first_losses": card.get("first_losses", []),
                   "first_losses": pretrained.first_losses(result["history"])}
    else:
        keys = ("fid", "kid", "precision", "recall", "class_kl", "class_accuracy")
        report["metrics"] = {k: result["metrics"][k] for k in keys if k in result["metrics"]}
        report["card_metrics"] = {k: card.get("metrics", {}).get(k) for k in report["metrics"]}
    print(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chapter11", description="Train and sample the GANs of the course.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _train_parser(sub)
    s = sub.add_parser("sample", help="draw a sample grid from a checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--n", type=int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    s.add_argument("--label", type=int, default=None, help="class for a conditional generator (default: all)")
    e = sub.add_parser("evaluate", help="FID, KID, IS, precision/recall, density/coverage of a checkpoint, as JSON")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True, help="the real images to compare with (mnist-5k, fashion-mnist, ...)")
    e.add_argument("--n", type=int, default=10_000, help="samples per side")
    e.add_argument("--extractor", default=None, choices=["mnist", "fashion-mnist", "inception"],
                   help="feature extractor (default: the one trained on --data)")
    e.add_argument("--heldout", action="store_true", help="compare with the held-out/test split")
    e.add_argument("--root", default="data")
    e.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    c = sub.add_parser("train-classifier", help="train the feature extractor that the metrics use")
    c.add_argument("--data", required=True, choices=["mnist-5k", "fashion-mnist"])
    c.add_argument("--out", required=True, help="where to write the weights (.pt) and model card (.md)")
    c.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    c.add_argument("--epochs", type=int, default=None, help="default: 40 for mnist-5k, 12 for fashion-mnist")
    c.add_argument("--no-progress", action="store_true")
    r = sub.add_parser("reproduce", help="re-train a shipped generator from its model card and compare metrics")
    r.add_argument("name", help="a name from chapter11.pretrained.available()")
    r.add_argument("--out", default=None, help="run folder (default runs/reproduce-NAME)")
    r.add_argument("--stop-after", type=int, default=None,
                   help="stop after N generator updates and print the first logged losses beside the card's")
    r.add_argument("--install", action="store_true",
                   help="write the new weights, card and sample grid into the package (how they were made)")
    r.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    r.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> int:
    from .classifier import WeightsUnavailableError
    from .train import TrainingDiverged

    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate,
                "train-classifier": cmd_train_classifier, "reproduce": cmd_reproduce}
    try:
        return handlers[args.command](args)
    except TrainingDiverged as err:
        print(f"chapter11: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, WeightsUnavailableError) as err:
        print(f"chapter11: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    finally:
        from .distributed import teardown

        teardown()  # under torchrun: leave the process group cleanly
