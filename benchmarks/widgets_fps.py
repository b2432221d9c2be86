"""How many GAN Lab updates per second this CPU keeps up: a training update plus a full redraw
(heat map, points, gradient arrows, loss curves, coverage meter on 2,500 samples).

    python benchmarks/widgets_fps.py [--updates 30]

Writes benchmarks/results/widgets_fps.json and .md. The target is at least 5 updates per second.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from chapter11.widgets import GANLab, LatentExplorer
from chapter11.models import DCGANGenerator

RESULTS = Path(__file__).resolve().parent / "results"


def rate(fn, n: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=30)
    args = p.parse_args()
    out = {"command": f"python benchmarks/widgets_fps.py --updates {args.updates}", "threads": torch.get_num_threads()}
    for loss in ("nonsaturating", "wgan-gp"):
        lab = GANLab(dist="ring8", loss=loss, n_critic=5 if loss == "wgan-gp" else 1)
        out[f"gan_lab_{loss}_updates_per_s"] = round(rate(lambda: (lab.step(), lab.render()), args.updates), 2)
        out[f"gan_lab_{loss}_redraws_per_s"] = round(rate(lab.render, args.updates), 2)
    ex = LatentExplorer(DCGANGenerator(latent_dim=100, image_size=28, width=64, num_classes=10))
    out["latent_explorer_redraws_per_s"] = round(rate(lambda: (ex.set_slider(0, float(torch.rand(1))), ex.render()),
                                                      args.updates), 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "widgets_fps.json").write_text(json.dumps(out, indent=2) + "\n")
    md = "# Widget refresh rates on this CPU\n\n`" + out["command"] + f"` ({out['threads']} threads). " + \
        "One GAN Lab update is `steps_per_update` (5) training rounds plus a full redraw.\n\n| what | per second |\n|---|---|\n" + \
        "\n".join(f"| {k.replace('_', ' ')} | {v} |" for k, v in out.items() if k.endswith("_per_s")) + "\n"
    (RESULTS / "widgets_fps.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
