"""What the sweeps in this folder share: a resumable pool of runs cached in one JSON file."""
from __future__ import annotations

import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def run_sweep(name: str, jobs: list[dict], run_one: Callable[[dict], dict], workers: int,
              describe: Callable[[dict], str], render_only: bool = False) -> list[dict]:
    """Run every job whose result is not cached in results/NAME.json yet; returns all cached results.

    A job is a dict of JSON values; its result must contain the job's items, which is how the cache
    recognises it. The cache is rewritten after each run, so an interrupted sweep resumes.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    cache = json.loads(path.read_text())["runs"] if path.exists() else []

    def key(d: dict) -> str:
        return json.dumps({k: d[k] for k in sorted(jobs[0]) if k in d}, sort_keys=True)

    done = {key(r) for r in cache}
    todo = [j for j in jobs if key(j) not in done]
    print(f"{name}: {len(jobs) - len(todo)} runs cached, {len(todo)} to go", flush=True)
    if todo and not render_only:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for r in pool.map(run_one, todo):
                cache.append(r)
                path.write_text(json.dumps({"runs": cache}, indent=1) + "\n")
                print(describe(r), flush=True)
    wanted = {key(j) for j in jobs}
    return [r for r in cache if key(r) in wanted]


def mean_std(values) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values, digits: int = 2) -> str:
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
