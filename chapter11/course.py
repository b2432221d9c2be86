"""Settings the notebooks share. The one place that reads CHAPTER11_FAST.

CI sets CHAPTER11_FAST=1 so that every notebook runs in a few minutes; a learner gets the full
runs by default.
"""
from __future__ import annotations

import os

import torch


def fast() -> bool:
    """True when CHAPTER11_FAST is set to anything but '', '0' or 'false'."""
    return os.environ.get("CHAPTER11_FAST", "").strip().lower() not in ("", "0", "false", "no")


def pick(full, quick):
    """`full` for learners, `quick` under CHAPTER11_FAST (step counts, sample sizes)."""
    return quick if fast() else full


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG and return a generator for explicit draws; notebooks state their seed."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
