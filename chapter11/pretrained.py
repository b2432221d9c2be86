"""The course's trained generators, shipped with the package so that nobody waits an hour for digits.

Each model NAME has three files in `chapter11/weights/generators/`:
- `NAME.json`, its card: the `train` arguments that made it, the seed, steps, wall time on the
  CPU it was trained on, the first logged losses, and the `evaluate` metrics of the shipped weights;
- `NAME.md`, the same card for people;
- `NAME.pt`, the generator's state dict in float16 (half the bytes; `load` returns float32).

    G = pretrained.load("cdcgan-mnist5k")   # an nn.Module in eval mode
    python -m chapter11 reproduce cdcgan-mnist5k --out runs/again

`reproduce` re-trains from the card with the same code path as `python -m chapter11 train`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from .models import build_model, model_spec
from .train import Callback

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "generators"
FIRST_LOSSES = 2  # logged records a card keeps for the reproducibility check
LOSS_KEYS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "gp")


def available() -> list[str]:
    """Names of the generators that have a card (trained or not yet)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json"))


def card(name: str) -> dict:
    """The model card of `name` as a dict; a clear error lists the valid names."""
    path = WEIGHTS_DIR / f"{name}.json"
    if not isinstance(name, str) or not path.is_file():
        raise ValueError(f"No pretrained model named {name!r}. Available: {', '.join(available())}.")
    return json.loads(path.read_text())


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped generator `name`, in eval mode and float32, with weights read by weights_only=True."""
    c = card(name)
    path = WEIGHTS_DIR / f"{name}.pt"
    if "generator" not in c or not path.is_file():
        raise FileNotFoundError(f"The card of {name!r} exists but its weights {str(path)!r} do not. Train them "
                                f"with: python -m chapter11 reproduce {name} --install")
    state = torch.load(path, map_location="cpu", weights_only=True)
    G = build_model(c["generator"])
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return G.to(device).eval()


def sample_grid(G: nn.Module, n: int = 64, seed: int = 0) -> torch.Tensor:
    """n fixed-seed samples; a conditional G gets labels 0..K-1 by row (n = K² gives a class-by-row grid)."""
    z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))  # (n, nz)
    k = G.num_classes
    labels = (torch.arange(n) // (n // k) % k,) if k else ()  # row r shows class r
    with torch.no_grad():
        return G(z, *labels)  # (n, C, H, W)


class _StopAfter(Callback):
    """Ends the run after `steps` generator updates (for the quick reproducibility check)."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step_end(self, trainer) -> bool:
        return trainer.step >= self.steps


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are package files everyone reads
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def first_losses(history: list[dict]) -> list[dict]:
    """The loss records a card keeps from a run's history: the first FIRST_LOSSES, LOSS_KEYS only."""
    return [{k: r[k] for k in LOSS_KEYS} for r in history[:FIRST_LOSSES]]


def cpu_signature() -> str:
    """What decides float32 rounding in training: CPU model, the SIMD level PyTorch uses, and torch's version.

    The same seed gives bit-identical losses only on the same signature: other CPUs pick other
    matmul/convolution kernels, whose rounding differs, and training amplifies the difference.
    """
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux: platform.processor() is the best we have
        pass
    return f"{model} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__.split('+')[0]}"


def record_first_losses(name: str) -> list[dict]:
    """Re-train `name` for its first logged steps on this machine and store them in its card.

    Under the key first_losses_by_cpu[cpu_signature()], so the reproducibility test can demand
    exact agreement on every CPU kind that has a record (the card's own first_losses stay as trained).
    """
    c = card(name)
    with tempfile.TemporaryDirectory() as tmp:
        result = reproduce(name, Path(tmp) / "run", stop_after=c["first_losses"][-1]["step"], progress=False)
    got = first_losses(result["history"])
    c.setdefault("first_losses_by_cpu", {})[cpu_signature()] = got
    _atomic_write(WEIGHTS_DIR / f"{name}.json", (json.dumps(c, indent=2) + "\n").encode())
    return got


def evaluate_card(name: str, G: nn.Module | None = None) -> dict:
    """`metrics.evaluate` of a generator (default: the shipped one) with the card's settings."""
    from .data import load_images
    from .metrics import evaluate

    c = card(name)
    e = c["eval"]
    G = load(name) if G is None else G.eval()
    real = load_images(e["data"], image_size=e.get("image_size"))
    return evaluate(G, real, n=e["n"], extractor=e["extractor"], seed=e["seed"])


def reproduce(name: str, out_dir: str | os.PathLike, stop_after: int | None = None, install: bool = False,
              progress: bool = True, resume: bool = False) -> dict:
    """Re-train `name` from its card into `out_dir` (a normal `train` run: checkpoint, history, samples).

    stop_after: end after this many generator updates, with the card's full schedule otherwise
    unchanged, so the first logged losses can be compared with the card's.
    install: write the new weights, card and README grid into the package (how the shipped
    models were made). Returns {"history": [...], "seconds": ..., "metrics": ... (full runs)}.
    """
    from .cli import build_parser, build_run

    c = card(name)
    argv = ["train", *c["train_args"], "--out", str(out_dir)] + ([] if progress else ["--no-progress"])
    args = build_parser().parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(c["threads"])  # the same kernels' reduction order as when the card was written
    try:
        trainer, _, _ = build_run(args)
        callbacks = [_StopAfter(stop_after)] if stop_after else []
        ckpt = Path(out_dir) / "checkpoint.pt"
        history = trainer.fit(callbacks=callbacks, resume_from=ckpt if resume and ckpt.is_file() else None)
    finally:
        torch.set_num_threads(threads)
    result = {"history": history.records, "seconds": trainer.seconds, "steps": trainer.step}
    if stop_after:
        return result
    G = trainer.G.eval()
    result["metrics"] = evaluate_card(name, G)
    if install:
        _install(name, c, trainer, result)
    return result


def _install(name: str, c: dict, trainer, result: dict) -> None:
    from .plotting import save_image_grid

    G = trainer.G
    half = {k: v.half() if v.is_floating_point() else v for k, v in G.state_dict().items()}
    pt = WEIGHTS_DIR / f"{name}.pt"
    buf = io.BytesIO()
    torch.save(half, buf)
    _atomic_write(pt, buf.getvalue())
    c = {**c, "generator": model_spec(G)}
    _atomic_write(WEIGHTS_DIR / f"{name}.json", (json.dumps(c, indent=2) + "\n").encode())  # so load() works
    metrics = evaluate_card(name)  # the shipped (float16) weights are what the card must describe
    c = {**c, "steps": trainer.step, "seed": trainer.config.seed,
         "wall_time_s": round(result["seconds"], 1),
         "first_losses": first_losses(result["history"]),
         "first_losses_by_cpu": {cpu_signature(): first_losses(result["history"])},
         "final_losses": {k: result["history"][-1][k] for k in LOSS_KEYS},
         "metrics": metrics,
         "trained_on": {"torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                        "threads": c["threads"], "date": time.strftime("%Y-%m-%d")},
         "weights_sha256": hashlib.sha256(pt.read_bytes()).hexdigest(),
         "weights_bytes": pt.stat().st_size}
    _atomic_write(WEIGHTS_DIR / f"{name}.json", (json.dumps(c, indent=2) + "\n").encode())
    _atomic_write(WEIGHTS_DIR / f"{name}.md", render_card(c).encode())
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():  # a source checkout: the README shows one grid per model
        images = repo / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        G = load(name)
        n = 100 if G.num_classes == 10 else 64
        save_image_grid(sample_grid(G, n), images / f"{name}.png", nrow=10 if n == 100 else 8)


def render_card(c: dict) -> str:
    """The Markdown model card of a card dict."""
    m = c.get("metrics", {})
    cmd = "python -m chapter11 train " + " ".join(c["train_args"]) + " --out runs/" + c["name"]
    lines = [f"# {c['name']}: {c['title']}", "", c["description"], "",
             "| | |", "|---|---|",
             f"| data | `{c['eval']['data']}`" + (f" at {c['eval']['image_size']}×{c['eval']['image_size']}"
                                                   if c["eval"].get("image_size") else "") + " |",
             f"| command | `{cmd}` (or `python -m chapter11 reproduce {c['name']}`) |",
             f"| seed | {c.get('seed')} |", f"| generator updates | {c.get('steps')} |",
             f"| wall time | {c.get('wall_time_s')} s on {c['threads']} CPU thread(s) "
             f"({c.get('trained_on', {}).get('cpu', '?')}, torch {c.get('trained_on', {}).get('torch', '?')}; "
             "other jobs shared the 2-core machine, so an idle one is faster) |",
             f"| weights | {c.get('weights_bytes', 0) / 1e6:.2f} MB, float16 |", "",
             f"## `evaluate` metrics ({c['eval']['n']} samples, `{c['eval']['extractor']}` features, seed "
             f"{c['eval']['seed']})", "", "| metric | value |", "|---|---|"]
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "class_kl", "class_accuracy"):
        if key in m:
            lines.append(f"| {key} | {m[key]:.4g} |")
    lines += ["", "FID and KID use the project's own classifier features, so they compare models of this "
              "course with each other, not with published Inception FIDs.", ""]
    return "\n".join(lines)
