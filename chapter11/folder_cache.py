"""Image folders too large for memory: decode once into a memory-mapped uint8 cache, then stream.

The first use decodes, centre-crops and resizes every image (with a progress bar) into
`<cache_dir>/images_<size>.npy` of shape (N, 3, S, S), uint8, plus the labels and a small JSON
record of what went in. Later uses map the file instead of decoding anything: the operating
system pages images in as batches touch them, so 200,000 faces at 64×64 (2.4 GB) train on a
machine with less memory than that. Files that are not images, or that PIL cannot read, are
skipped and counted; they never stop a run.

`CachedImageFolder` is a `torch.utils.data.Dataset`; `train()` accepts it directly and feeds it
through a `DataLoader` with worker processes into the same training loop.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .data import decode_image, folder_files

CACHE_VERSION = 1


def _fingerprint(files: list[tuple[Path, int]], image_size: int) -> str:
    """Changes whenever a file is added, removed, renamed, relabelled or modified."""
    h = hashlib.sha256(f"v{CACHE_VERSION}:{image_size}".encode())
    for path, label in files:
        st = path.stat()
        h.update(f"{path}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class CachedImageFolder(Dataset):
    """A folder of images (one subfolder per class, or flat) behind a memory-mapped uint8 cache.

    Items are (image uint8 (3, S, S), label int). `skipped` lists the files that could not be
    used and why; `built` says whether this call had to (re)build the cache.
    """

    def __init__(self, folder: str | os.PathLike, image_size: int = 64, cache_dir: str | os.PathLike | None = None,
                 progress: bool = True):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"Image folder {str(self.folder)!r} does not exist.")
        if not isinstance(image_size, int) or image_size < 4:
            raise ValueError(f"image_size must be an int of at least 4; got {image_size!r}")
        self.image_size = image_size
        self.cache_dir = Path(cache_dir) if cache_dir else self.folder / ".chapter11-cache"
        files, self.num_classes, others = folder_files(self.folder)
        if not files:
            raise ValueError(f"Image folder {str(self.folder)!r} holds no image files; put images in it, or in "
                             "one subfolder per class.")
        stem = self.cache_dir / f"images_{image_size}"
        self.paths = {"images": stem.with_suffix(".npy"), "labels": stem.with_name(stem.name + "_labels.npy"),
                      "meta": stem.with_suffix(".json")}
        fingerprint = _fingerprint(files, image_size)
        meta = self._read_meta()
        self.built = meta is None or meta.get("fingerprint") != fingerprint
        if self.built:
            meta = self._build(files, fingerprint, progress)
        self.skipped = [f"{name}: not an image file" for name in map(str, others)] + meta["skipped"]
        self.count = meta["count"]
        if self.count == 0:
            raise ValueError(f"None of the {len(files)} image files in {str(self.folder)!r} could be read; "
                             f"e.g. {self.skipped[:3]}.")
        self._images = None  # mapped lazily, once per process (a pickled memmap would copy the whole array)
        self.labels = torch.from_numpy(np.load(self.paths["labels"])[: self.count].astype(np.int64))  # (N,)
        self.name = str(self.folder)

    def _read_meta(self) -> dict | None:
        try:
            meta = json.loads(self.paths["meta"].read_text())
        except (OSError, ValueError):
            return None
        ok = all(self.paths[k].is_file() for k in ("images", "labels"))
        return meta if ok else None

    def _build(self, files, fingerprint: str, progress: bool) -> dict:
        from tqdm.auto import tqdm

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        S, N = self.image_size, len(files)
        tmp_images = self.paths["images"].with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp_images, mode="w+", dtype=np.uint8, shape=(N, 3, S, S))
        labels = np.zeros(N, dtype=np.int16)
        count, skipped = 0, []
        for path, label in tqdm(files, desc=f"caching {self.folder.name} at {S}px", disable=not progress,
                                unit="img"):
            try:
                out[count] = decode_image(path, S).transpose(2, 0, 1)  # (3, S, S)
                labels[count] = label
                count += 1
            except (OSError, ValueError) as err:  # unreadable or corrupt: count it and carry on
                skipped.append(f"{path}: {type(err).__name__}")
        out.flush()
        del out
        tmp_labels = self.paths["labels"].with_suffix(".tmp.npy")
        np.save(tmp_labels, labels)
        os.replace(tmp_images, self.paths["images"])  # renames: a crash leaves no half-written cache in use
        os.replace(tmp_labels, self.paths["labels"])
        meta = {"version": CACHE_VERSION, "fingerprint": fingerprint, "count": count, "files": N,
                "image_size": S, "num_classes": self.num_classes, "skipped": skipped}
        self.paths["meta"].write_text(json.dumps(meta, indent=1))  # written last: marks the cache complete
        if skipped:
            import warnings

            warnings.warn(f"Skipped {len(skipped)} unreadable file(s) in {str(self.folder)!r}, "
                          f"e.g. {skipped[0]}", stacklevel=3)
        return meta

    @property
    def images(self) -> np.ndarray:
        """The cache as a read-only memory map, (N, 3, S, S) uint8."""
        if self._images is None:
            self._images = np.load(self.paths["images"], mmap_mode="r")[: self.count]
        return self._images

    def __getstate__(self):  # DataLoader workers re-open the map instead of receiving a copy
        return {**self.__dict__, "_images": None}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.images[i])), int(self.labels[i])  # copy out of the map

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)
