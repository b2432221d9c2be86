"""Stability: how often does each loss reach a fixed mode coverage on grid25 under random hyperparameters?

A small version of the WGAN-GP paper's robustness experiment (which trained 200 random
architectures per loss). Here the architecture is fixed (the toy benchmark's width-128 MLPs,
PacGAN-2 discriminator) and 10 hyperparameter draws, the same 10 for every loss, vary:
- learning rate (G and D alike), log-uniform in [1e-5, 1e-3];
- Adam β1 uniform in [0, 0.9] and β2 from {0.9, 0.99, 0.999};
- n_critic from {1, 2, 5}.
Every run gets the same number of discriminator updates, then 2,500 samples are scored with the
VEEGAN/PacGAN protocol. A run "succeeds" when it covers at least SUCCESS_MODES of the 25 modes.
For weight clipping (`wgan`) the draws set Adam too, not the paper's RMSProp: the point is to
see how each loss copes with the same draws.

    python benchmarks/stability.py [--draws 10] [--d-updates 4000] [--workers 2]
"""
from __future__ import annotations

import argparse
import random

from _sweep import RESULTS, fmt, run_sweep

LOSSES = ["nonsaturating", "minimax", "wgan", "wgan-gp", "lsgan", "hinge", "rsgan", "rasgan", "ralsgan", "rahinge"]
SUCCESS_MODES = 20  # of 25
HALF_MODES = 10  # a softer bar, which tells the losses apart when few runs converge
SAMPLES = 2_500
MODEL = dict(width=128, depth=3)


def draws(n: int, seed: int = 2017) -> list[dict]:
    """n hyperparameter settings from a fixed seed; every loss sees the same list."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append({"lr": round(10 ** rng.uniform(-5, -3), 7), "beta1": round(rng.uniform(0.0, 0.9), 3),
                    "beta2": rng.choice([0.9, 0.99, 0.999]), "n_critic": rng.choice([1, 2, 5])})
    return out


def run_one(job: dict) -> dict:
    import torch

    from chapter11.data import toy_distribution
    from chapter11.models import ToyDiscriminator, ToyGenerator
    from chapter11.train import TrainConfig, TrainingDiverged, train

    torch.set_num_threads(1)
    h = job["hparams"]
    torch.manual_seed(job["seed"])
    G, D = ToyGenerator(**MODEL), ToyDiscriminator(**MODEL, pack=2)
    dist = toy_distribution("grid25")
    gp = {"gp_weight": 0.1} if job["loss"] == "wgan-gp" else {}  # the authors' toy-data λ
    cfg = TrainConfig(loss=job["loss"], steps=job["d_updates"] // h["n_critic"], n_critic=h["n_critic"],
                      lr_g=h["lr"], lr_d=h["lr"], betas=(h["beta1"], h["beta2"]), batch_size=256,
                      lr_decay="linear", seed=job["seed"], device="cpu", progress=False, log_every=500, **gp)
    try:
        train(G, D, dist, cfg)
    except TrainingDiverged:
        return {**job, "modes": 0, "high_quality": 0.0, "reverse_kl": None, "diverged": True}
    with torch.no_grad():
        z = torch.randn(SAMPLES, G.latent_dim, generator=torch.Generator().manual_seed(10_000 + job["seed"]))
        score = dist.score(G.eval()(z))
    return {**job, **score, "diverged": False}


def render(runs: list[dict], n_draws: int, d_updates: int, hps: list[dict]) -> str:
    rows = []
    for loss in LOSSES:
        rs = [r for r in runs if r["loss"] == loss]
        if not rs:
            continue
        ok = sum(r["modes"] >= SUCCESS_MODES for r in rs)
        half = sum(r["modes"] >= HALF_MODES for r in rs)
        rows.append((ok / len(rs) + half / len(rs) / 100, f"| {loss} | **{ok} / {len(rs)}** | {half} / {len(rs)} | "
                                   f"{fmt([r['modes'] for r in rs], 1)} | "
                                   f"{fmt([100 * r['high_quality'] for r in rs], 1)} | "
                                   f"{sum(r['diverged'] for r in rs)} |"))
    rows.sort(key=lambda t: -t[0])
    draws_md = "\n".join(f"| {i} | {h['lr']:.2e} | {h['beta1']} | {h['beta2']} | {h['n_critic']} |"
                         for i, h in enumerate(hps))
    return f"""# Stability over random hyperparameters (grid25)

Command: `python benchmarks/stability.py --draws {n_draws} --d-updates {d_updates}` (raw runs:
`stability.json`). Each loss is trained with the same {n_draws} random hyperparameter draws (below),
{d_updates:,} discriminator updates each, width-128 toy MLPs with a PacGAN-2 discriminator, batch 256,
linear learning-rate decay, seed 0. Success: at least {SUCCESS_MODES} of the 25 modes covered by
2,500 samples (VEEGAN/PacGAN protocol). Modes and % high quality are mean ± std over the draws.

This is a small budget: most draws have a learning rate below 1e-4 (the range is log-uniform),
and 4,000 updates are a fifth of what the toy benchmark gives each loss, so few runs converge and
the share of high-quality samples stays low (a mode counts as covered when a single
high-quality sample falls nearest to it). The table therefore measures which losses make
progress under poor settings, not which reach the best final quality.

| loss | runs reaching {SUCCESS_MODES}+ modes | runs reaching {HALF_MODES}+ modes | modes | % high quality | diverged |
|---|---|---|---|---|---|
{chr(10).join(r for _, r in rows)}

The draws (learning rate log-uniform in [1e-5, 1e-3]; β1 uniform in [0, 0.9]; β2 from
{{0.9, 0.99, 0.999}}; n_critic from {{1, 2, 5}}):

| draw | lr | β1 | β2 | n_critic |
|---|---|---|---|---|
{draws_md}
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--d-updates", type=int, default=4000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--render-only", action="store_true", help="run nothing; rebuild the table from the cached runs")
    p.add_argument("--losses", nargs="+", default=LOSSES)
    args = p.parse_args()
    hps = draws(args.draws)
    # draw-major order: an interrupted sweep still compares every loss on the first draws
    jobs = [{"loss": loss, "draw": i, "hparams": h, "seed": 0, "d_updates": args.d_updates}
            for i, h in enumerate(hps) for loss in args.losses]
    runs = run_sweep("stability", jobs, run_one, args.workers,
                     lambda r: f"{r['loss']}/draw {r['draw']}: {r['modes']} modes, "
                               f"{100 * r['high_quality']:.1f} % HQ", render_only=args.render_only)
    md = render(runs, args.draws, args.d_updates, hps)
    (RESULTS / "stability.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
