"""Run every benchmark of the course (or reuse its cached runs) and regenerate docs/results.md.

    python benchmarks/run_all.py             # finish any missing runs, then rewrite the page
    python benchmarks/run_all.py --rerun-throughput --rerun-baselines   # re-time those too

The sweeps (toy coverage, equal budget, stability) cache each finished run in results/*.json,
so a second call only re-renders. Throughput and the metric baselines are timings: they are
re-measured only when asked, because they need an otherwise idle machine. Everything on the
page is read from those JSON files and from the model cards in chapter11/weights/generators/;
results/run_all.json gathers the headline numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))

from chapter11 import pretrained  # noqa: E402

TRAIN_VS_HELDOUT = "real: train 4,000 vs held-out 1,000"


def run(script: str, *args: str) -> None:
    cmd = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=HERE)


def body(md_name: str) -> str:
    """A benchmark's Markdown page without its title, headings demoted one level."""
    text = (RESULTS / md_name).read_text().split("\n", 1)[1].strip()
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def shipped_models() -> tuple[str, list[dict]]:
    rows, cards = [], []
    for name in pretrained.available():
        c = pretrained.card(name)
        if "metrics" not in c:
            continue
        cards.append(c)
        m = c["metrics"]
        acc = f"{m['class_accuracy']:.3f}" if "class_accuracy" in m else "–"
        rows.append(f"| `{name}` | {c['eval']['data']} | {c['steps']:,} | {c['wall_time_s'] / 60:.1f} | "
                    f"{m['fid']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['class_kl']:.3f} | {acc} | "
                    f"![{name}](images/{name}.png) |")
    table = ("| model | data | G steps | train min | FID ↓ | precision | recall | class KL | class acc. | samples |\n"
             "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    return table, cards


def conditional_target(cards: list[dict]) -> tuple[str, dict]:
    base = json.loads((RESULTS / "metric_baselines.json").read_text())["mnist"][TRAIN_VS_HELDOUT]["fid"]
    c = next(c for c in cards if c["name"] == "cdcgan-mnist5k")
    m = c["metrics"]
    ok_acc, ok_fid, ok_time = m["class_accuracy"] >= 0.95, m["fid"] <= 3 * base, c["wall_time_s"] <= 1800
    verdict = "met" if ok_acc and ok_fid and ok_time else "NOT met"
    text = f"""The target: `class_accuracy` ≥ 0.95 and FID within 3× the train-vs-held-out real baseline,
after at most 30 minutes of CPU training. Target **{verdict}**:

| | measured | target |
|---|---|---|
| class accuracy (the MNIST classifier agrees with the requested digit) | {m['class_accuracy']:.4f} | ≥ 0.95 {'✓' if ok_acc else '✗'} |
| FID ({m['n']:,} samples vs {m['n_real']:,} mnist-5k images) | {m['fid']:.2f} | ≤ 3 × {base:.2f} = {3 * base:.2f} {'✓' if ok_fid else '✗'} |
| training time ({c['steps']:,} generator updates, {c['threads']} thread) | {c['wall_time_s'] / 60:.1f} min | ≤ 30 min {'✓' if ok_time else '✗'} |

Command: `python -m chapter11 reproduce cdcgan-mnist5k` (card: `chapter11/weights/generators/cdcgan-mnist5k.md`).
The baseline {base:.2f} is FID between the 4,000 training and 1,000 held-out real digits
(`metric_baselines.json`). Caveat: the generator was trained on all 5,000 digits."""
    return text, {"class_accuracy": m["class_accuracy"], "fid": m["fid"], "baseline_fid": base,
                  "wall_time_s": c["wall_time_s"], "target_met": verdict == "met"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rerun-throughput", action="store_true")
    p.add_argument("--rerun-baselines", action="store_true")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing; rebuild the tables and the page from the cached runs (possibly incomplete)")
    args = p.parse_args()
    w = ["--workers", str(args.workers)] + (["--render-only"] if args.render_only else [])
    run("toy_coverage.py", "--seeds", "5", "--workers", str(args.workers))  # fully cached: only re-renders
    run("equal_budget.py", "--budget", "60", "--seeds", "3", *w)
    run("stability.py", "--draws", "10", "--d-updates", "4000", *w)
    run("mlp_ablation.py", "--steps", "10000", *w)
    if not args.render_only and (args.rerun_throughput or not (RESULTS / "throughput.json").exists()):
        run("throughput.py")
    if not args.render_only and (args.rerun_baselines or not (RESULTS / "metric_baselines.json").exists()):
        run("metric_baselines.py")

    models_table, cards = shipped_models()
    cond_text, cond = conditional_target(cards)
    tp = json.loads((RESULTS / "throughput.json").read_text())
    eq = json.loads((RESULTS / "equal_budget.json").read_text())["runs"]
    st = json.loads((RESULTS / "stability.json").read_text())["runs"]
    summary = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "shipped_models": {c["name"]: {k: c["metrics"][k] for k in ("fid", "precision", "recall", "class_kl")}
                           | {"wall_time_s": c["wall_time_s"], "steps": c["steps"]} for c in cards},
        "conditional_dcgan_mnist5k": cond,
        "throughput": {k: tp[k] for k in ("critic_steps_per_s_ours", "critic_steps_per_s_tutorial", "speedup",
                                          "fraction_of_peak")},
        "equal_budget_fid": {loss: sum(r["fid"] for r in eq if r["loss"] == loss) /
                             max(1, sum(r["loss"] == loss for r in eq)) for loss in sorted({r["loss"] for r in eq})},
        "stability_success": {loss: sum(r["modes"] >= 20 for r in st if r["loss"] == loss)
                              for loss in sorted({r["loss"] for r in st})},
    }
    (RESULTS / "run_all.json").write_text(json.dumps(summary, indent=2) + "\n")
    page = f"""# Results

Every number on this page is read from the JSON files in `benchmarks/results/` and from the
model cards in `chapter11/weights/generators/`; `python benchmarks/run_all.py` regenerates it
(last: {summary['generated']}). Machine: 2 CPU cores, no GPU, torch {tp['torch']}. FID, KID and
precision/recall use the project's own classifier features (`chapter11.classifier`), so they
compare the course's models with each other, not with published Inception-based figures.

## Shipped generators

`chapter11.pretrained.load(name)`; each has a model card beside its weights, and
`python -m chapter11 reproduce NAME` re-trains it. Metrics: 5,000 samples against the training
images (mnist-5k or Fashion-MNIST), seed 0. Training ran on one thread, two models at a time.

{models_table}

## The conditional DCGAN on mnist-5k

{cond_text}

## The chapter's MLP generator: what stops the collapse

{body('mlp_ablation.md')}

## Image quality at an equal wall-clock budget

{body('equal_budget.md')}

## Mode coverage on the toy benchmark

{body('toy_coverage.md')}

## Stability over random hyperparameters

{body('stability.md')}

## Training throughput

{body('throughput.md')}

## Real-vs-real baselines of the metrics

{body('metric_baselines.md')}
"""
    DOCS.mkdir(exist_ok=True)
    (DOCS / "results.md").write_text(page)
    print(f"wrote {DOCS / 'results.md'} and {RESULTS / 'run_all.json'}")


if __name__ == "__main__":
    main()
