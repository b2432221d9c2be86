"""Reference values for the metrics: real against real, a collapsed and a blurred "generator",
the small-sample bias of FID, and how long evaluation takes.

    python benchmarks/metric_baselines.py [--seed 0]

Features come from the project's own classifiers (feature_extractor("mnist") and
("fashion-mnist")), so these numbers are only comparable with each other, not with published
Inception FIDs. Writes benchmarks/results/metric_baselines.json and metric_baselines.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from chapter11.classifier import feature_extractor
from chapter11.data import FASHION_MNIST_SYSTEM_DIR, gaussian_blur, load_images, mnist5k_holdout_mask
from chapter11.metrics import evaluate, extract_features, fid_from_features, kid_from_features, prdc
from chapter11.models import DCGANGenerator

RESULTS = Path(__file__).resolve().parent / "results"


def scores(ref_f: torch.Tensor, cand_f: torch.Tensor, seed: int) -> dict:
    kid, kid_std = kid_from_features(ref_f, cand_f, num_subsets=50, subset_size=1000, seed=seed)
    return {"fid": round(fid_from_features(ref_f, cand_f), 3), "kid": round(kid, 5), "kid_std": round(kid_std, 5),
            **{k: round(v, 4) for k, v in prdc(ref_f, cand_f, k=5).items()}, "n_ref": len(ref_f), "n": len(cand_f)}


def mnist_baselines(seed: int) -> dict:
    ext = feature_extractor("mnist")
    data = load_images("mnist-5k")
    g = torch.Generator().manual_seed(seed)
    feats, _ = extract_features(ext, data.images)  # (5000, 128)
    out = {}
    perm = torch.randperm(5000, generator=g)
    out["real: half vs half (2,500 each)"] = scores(feats[perm[:2500]], feats[perm[2500:]], seed)
    held = mnist5k_holdout_mask(data.labels)
    out["real: train 4,000 vs held-out 1,000"] = scores(feats[held], feats[~held], seed)
    ref = feats[held]  # the held-out 1,000 are the reference for the rest
    train_idx = (~held).nonzero().squeeze(1)
    pick = train_idx[torch.randperm(len(train_idx), generator=g)[:1000]]
    out["real: 1,000 train vs held-out"] = scores(ref, feats[pick], seed)
    three = train_idx[data.labels[train_idx] < 3]  # a generator that only makes 0, 1 and 2
    collapsed = three[torch.randint(len(three), (1000,), generator=g)]
    out["collapsed: 1,000 train images of classes 0-2 only"] = scores(ref, feats[collapsed], seed)
    blurred_f, _ = extract_features(ext, gaussian_blur(data.images[pick], sigma=1.0))
    out["blurred: the same 1,000 train images, Gaussian blur σ=1"] = scores(ref, blurred_f, seed)
    return out


def fashion_sample_size(seed: int, sizes=(500, 1000, 2000, 5000, 10000), draws: int = 3) -> dict:
    if not (FASHION_MNIST_SYSTEM_DIR / "train-images-idx3-ubyte.gz").is_file():
        return {"skipped": "dataset-fashion-mnist not installed"}
    ext = feature_extractor("fashion-mnist")
    tr, te = load_images("fashion-mnist"), load_images("fashion-mnist", train=False)
    g = torch.Generator().manual_seed(seed)
    tr_f, _ = extract_features(ext, tr.images[torch.randperm(len(tr.images), generator=g)[:10_000]])
    te_f, _ = extract_features(ext, te.images)
    out = {}
    for n in sizes:
        vals = []
        for _ in range(draws):
            a = tr_f[torch.randperm(len(tr_f), generator=g)[:n]]
            b = te_f[torch.randperm(len(te_f), generator=g)[:n]]
            vals.append(fid_from_features(a, b))
        out[str(n)] = {"mean": round(statistics.fmean(vals), 3), "std": round(statistics.stdev(vals), 3)}
    return out


def speed(seed: int) -> dict:
    torch.manual_seed(seed)
    G = DCGANGenerator(latent_dim=100, image_size=28, width=64)  # untrained: speed does not depend on quality
    real = load_images("mnist-5k")
    t = time.perf_counter()
    evaluate(G, real, n=10_000, extractor="mnist", seed=seed)
    eval_s = time.perf_counter() - t
    out = {"evaluate_10k_seconds": round(eval_s, 2)}
    for d in (128, 512):
        a, b = torch.randn(10_000, d), torch.randn(10_000, d) * 1.1 + 0.1
        t = time.perf_counter()
        fid_from_features(a, b)
        out[f"fid_from_features_10k_x_{d}_seconds"] = round(time.perf_counter() - t, 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed-only", action="store_true", help="re-time evaluation; keep the other figures")
    args = p.parse_args()
    if args.speed_only:
        result = json.loads((RESULTS / "metric_baselines.json").read_text())
        result["speed"] = speed(args.seed)
        result["speed_command"] = f"python benchmarks/metric_baselines.py --seed {args.seed} --speed-only"
    else:
        result = {"command": f"python benchmarks/metric_baselines.py --seed {args.seed}", "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "mnist": mnist_baselines(args.seed),
                  "fashion_fid_vs_sample_size": fashion_sample_size(args.seed), "speed": speed(args.seed)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metric_baselines.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {name} | {r['n']} vs {r['n_ref']} | {r['fid']} | {r['kid']} ± {r['kid_std']} | "
                     f"{r['precision']} | {r['recall']} | {r['density']} | {r['coverage']} |"
                     for name, r in result["mnist"].items())
    fss = result["fashion_fid_vs_sample_size"]
    size_rows = ("\n".join(f"| {int(n):,} | {v['mean']} ± {v['std']} |" for n, v in fss.items())
                 if "skipped" not in fss else f"| skipped: {fss['skipped']} | |")
    sp = result["speed"]
    md = f"""# Metric baselines

`{result['command']}` (torch {result['torch']}, {result['threads']} CPU threads). Features: the project's
SmallCNN classifiers (128-d), so these FIDs are on their own scale, not Inception's.

## mnist-5k: real against real, and two broken "generators"

| candidate | n vs reference | FID | KID | precision | recall | density | coverage |
|---|---|---|---|---|---|---|---|
{rows}

The reference for the last four rows is the held-out 1,000 digits. The collapsed set (only
0, 1 and 2) keeps a high precision (its images are real) but loses recall and coverage and has a
far larger FID; the blurred set loses precision and density.

## Fashion-MNIST: FID of train against test as the sample size grows

Both sets are real, so the true FID is close to 0; what remains at small n is estimation bias.

| n per side | FID (mean ± std over 3 draws) |
|---|---|
{size_rows}

## Speed on this CPU (`{result.get('speed_command', result['command'])}`, nothing else running)

- `evaluate` of a DCGAN on 10,000 generated 28×28 images against mnist-5k, features included:
  **{sp['evaluate_10k_seconds']} s**
- `fid_from_features` on 10,000 × 128 features: **{sp['fid_from_features_10k_x_128_seconds']} s**;
  on 10,000 × 512: **{sp['fid_from_features_10k_x_512_seconds']} s**
"""
    (RESULTS / "metric_baselines.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
