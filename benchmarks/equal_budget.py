"""Image quality of every loss at an equal wall-clock budget: DCGAN on mnist-5k, 3 seeds.

Each run trains a 28×28 DCGAN (base width 32, so that a CPU core makes hundreds of updates
within the budget) with one loss and that loss's usual recipe, on one thread, and stops when
its training has used the budget, whatever the number of updates. The budget is counted in the
process's CPU seconds, which equal wall-clock seconds on an idle core but, unlike them, are not
eaten by other jobs on the machine. A loss that needs 5 critic updates
per generator update therefore gets fewer generator updates: that is the price it pays on a
fixed compute budget. Then `metrics.evaluate` scores 2,000 samples against mnist-5k with the
project's MNIST features. Real-vs-real rows (two disjoint random 2,000-image halves of
mnist-5k) show what "perfect" looks like at this sample size.

    python benchmarks/equal_budget.py [--budget 60] [--seeds 3] [--workers 2]

Runs are cached in results/equal_budget.json (resumable); the table goes to results/equal_budget.md.
"""
from __future__ import annotations

import argparse
import json
import time

from _sweep import RESULTS, fmt, run_sweep

from chapter11.train import Callback

N_EVAL = 2_000  # samples per side for the metrics
WIDTH = 32  # DCGAN base width: ~3x the updates per second of width 64 on a CPU
RECIPES = {  # each loss with the settings its paper (or the DCGAN recipe) uses
    "nonsaturating": {}, "minimax": {}, "lsgan": {}, "hinge": {},
    "rsgan": {}, "rasgan": {}, "ralsgan": {}, "rahinge": {},
    "wgan": dict(n_critic=5, optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip_value=0.01),
    "wgan-gp": dict(n_critic=5, lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), gp_weight=10.0),
}
METRICS = ("fid", "kid", "precision", "recall", "class_kl")


class _Budget(Callback):
    """Stop a run once its training (not counting setup) has used `seconds` of CPU time.

    With one thread on an otherwise idle core that equals wall-clock time; unlike wall-clock
    time, it does not shrink when other jobs share the machine, so every run gets the same compute.
    """

    def __init__(self, seconds: float):
        self.seconds, self.t0 = seconds, 0.0

    def on_train_start(self, trainer) -> None:
        self.t0 = time.process_time()

    def on_step_end(self, trainer) -> bool:
        return time.process_time() - self.t0 >= self.seconds


def run_one(job: dict) -> dict:
    import torch

    from chapter11.data import load_images
    from chapter11.metrics import evaluate
    from chapter11.models import make_gan
    from chapter11.train import TrainConfig, train

    torch.set_num_threads(1)  # one core per worker
    loss, seed = job["loss"], job["seed"]
    data = load_images("mnist-5k")
    torch.manual_seed(seed)
    norm = "layer" if loss == "wgan-gp" else "batch"  # a per-sample penalty needs a per-sample norm
    G, D = make_gan("dcgan", data.image_shape, width=WIDTH, norm=norm)
    cfg = TrainConfig(loss=loss, steps=10 ** 9, seed=seed, device="cpu", progress=False, log_every=100,
                      **RECIPES[loss])
    history = train(G, D, data, cfg, callbacks=[_Budget(job["budget"])])
    last = history.records[-1]
    m = evaluate(G.eval(), data, n=N_EVAL, extractor="mnist", seed=seed)
    return {**job, "generator_steps": last["step"], "critic_steps": last["step"] * cfg.n_critic,
            "train_seconds": last["seconds"], **{k: m[k] for k in METRICS}}


def real_baseline(seeds: int) -> list[dict]:
    """The same metrics between two disjoint random halves of mnist-5k, one row per seed."""
    import torch

    from chapter11.classifier import feature_extractor
    from chapter11.data import load_images
    from chapter11.metrics import extract_features, fid_from_features, kid_from_features, prdc

    data, ext = load_images("mnist-5k"), feature_extractor("mnist")
    rows = []
    for seed in range(seeds):
        idx = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))
        a, b = idx[:N_EVAL], idx[N_EVAL:2 * N_EVAL]  # disjoint halves
        fa, _ = extract_features(ext, data.images[a])
        fb, logits = extract_features(ext, data.images[b])
        p = torch.bincount(logits.argmax(1), minlength=10).double() / N_EVAL
        rows.append({"fid": fid_from_features(fa, fb), "kid": kid_from_features(fa, fb, seed=seed)[0],
                     **{k: v for k, v in prdc(fa, fb).items() if k in METRICS},
                     "class_kl": float((p[p > 0] * torch.log(p[p > 0] * 10)).sum())})
    return rows


def render(runs: list[dict], baseline: list[dict], budget: float, seeds: int) -> str:
    lines = ["| loss | generator steps | critic steps | FID ↓ | KID ↓ | precision ↑ | recall ↑ | class KL ↓ |",
             "|---|---|---|---|---|---|---|---|"]
    order = sorted(RECIPES, key=lambda loss: sum(r["fid"] for r in runs if r["loss"] == loss)
                   / max(1, sum(r["loss"] == loss for r in runs)))
    for loss in order:
        rs = [r for r in runs if r["loss"] == loss]
        if not rs:
            continue
        lines.append(f"| {loss} (n={len(rs)}) | {fmt([r['generator_steps'] for r in rs], 0)} | "
                     f"{fmt([r['critic_steps'] for r in rs], 0)} | {fmt([r['fid'] for r in rs], 1)} | "
                     f"{fmt([r['kid'] for r in rs], 1)} | {fmt([r['precision'] for r in rs])} | "
                     f"{fmt([r['recall'] for r in rs])} | {fmt([r['class_kl'] for r in rs], 3)} |")
    lines.append(f"| *real vs real* (n={len(baseline)}) | – | – | {fmt([r['fid'] for r in baseline], 1)} | "
                 f"{fmt([r['kid'] for r in baseline], 1)} | {fmt([r['precision'] for r in baseline])} | "
                 f"{fmt([r['recall'] for r in baseline])} | {fmt([r['class_kl'] for r in baseline], 3)} |")
    recipes = "\n".join(f"- `{k}`: {json.dumps(v) if v else 'DCGAN recipe (Adam 2e-4, betas 0.5/0.999)'}"
                        for k, v in RECIPES.items())
    return f"""# Image quality at an equal wall-clock budget

Command: `python benchmarks/equal_budget.py --budget {budget:g} --seeds {seeds}` (raw runs:
`equal_budget.json`). Each run: DCGAN (28×28, base width {WIDTH}) on mnist-5k, batch 64, one
CPU thread, stopped after {budget:g} s of training (CPU time of the run, which is its wall-clock
time on an idle core; two runs went side by side on the 2-core machine).
Metrics: `chapter11.metrics.evaluate` with {N_EVAL:,} samples and the project's MNIST features
(FID/KID here are not comparable with published Inception FIDs). Mean ± std over seeds
0–{seeds - 1}, best FID first. Recipes:
{recipes}

{chr(10).join(lines)}
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per run")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--render-only", action="store_true", help="run nothing; rebuild the table from the cached runs")
    p.add_argument("--losses", nargs="+", default=list(RECIPES))
    args = p.parse_args()
    jobs = [{"loss": loss, "seed": s, "budget": args.budget} for s in range(args.seeds) for loss in args.losses]
    runs = run_sweep("equal_budget", jobs, run_one, args.workers,
                     lambda r: f"{r['loss']}/{r['seed']}: {r['generator_steps']} G steps, FID {r['fid']:.1f}, "
                               f"precision {r['precision']:.2f}, recall {r['recall']:.2f}",
                     render_only=args.render_only)
    baseline = real_baseline(args.seeds)
    (RESULTS / "equal_budget_baseline.json").write_text(json.dumps({"runs": baseline}, indent=1) + "\n")
    md = render(runs, baseline, args.budget, args.seeds)
    (RESULTS / "equal_budget.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
