"""Atomic checkpoints that only hold tensors and plain Python values.

Writing goes to a temporary file in the same folder, then `os.replace` renames it over the
old checkpoint, so a crash mid-write leaves the previous checkpoint intact. Loading uses
`torch.load(weights_only=True)`, which refuses to run pickled code from a file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

FORMAT = "chapter11-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write `payload` (plus a format tag) to `path` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`, with clear errors for every way it can fail."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {str(path)!r}. Train first (python -m chapter11 train ...) "
                                "or check the path.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated file, other pickle, non-tensor objects
        raise ValueError(f"{str(path)!r} could not be read as a chapter11 checkpoint ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}). It may be truncated or from another "
                         "program.") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a chapter11 checkpoint (no {FORMAT!r} tag). Load other "
                         "files with torch.load and model.load_state_dict yourself.")
    if state.get("version", 0) > VERSION:
        raise ValueError(f"{str(path)!r} was written by a newer chapter11 (format version {state['version']}); "
                         "upgrade the package.")
    return state


def load_state_strict(module: torch.nn.Module, state_dict: dict, what: str, source: str) -> None:
    """load_state_dict, but a mismatch says which model and file disagree instead of a long torch trace."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise ValueError(f"The {what} in {source!r} does not fit {type(module).__name__} as built "
                         f"({first}). The checkpoint comes from another model or size: build the same "
                         "architecture, or rebuild it from the checkpoint's stored spec.") from err
