"""Image folders at scale: a memory-mapped uint8 cache built once, streamed by DataLoader workers."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from chapter11.folder_cache import CachedImageFolder
from chapter11.models import DCGANDiscriminator, DCGANGenerator
from chapter11.train import TrainConfig, train


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory):
    """300 images of mixed sizes and modes in two classes, one corrupt PNG and one text file."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    modes = ["RGB", "L", "RGBA", "P"]
    for i in range(300):
        cls = root / ("a" if i % 2 else "b")
        cls.mkdir(exist_ok=True)
        w, h = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(modes[i % 4])
        im.save(cls / f"{i:04d}.{'png' if i % 3 else 'jpg'}" if modes[i % 4] in ("RGB", "L") else cls / f"{i:04d}.png")
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (root / "b" / "notes.txt").write_text("not an image")
    return root


def test_cache_is_built_once_then_reused(messy_folder, tmp_path):
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="Skipped 1 unreadable"):
        first = CachedImageFolder(messy_folder, image_size=16, cache_dir=cache, progress=False)
    assert first.built and len(first) == 300 and first.num_classes == 2
    assert len(first.skipped) == 2  # the corrupt PNG and the text file, each named
    assert any("broken.png" in s for s in first.skipped) and any("notes.txt" in s for s in first.skipped)
    stamp = (cache / "images_16.npy").stat().st_mtime_ns
    second = CachedImageFolder(messy_folder, image_size=16, cache_dir=cache, progress=False)
    assert not second.built and (cache / "images_16.npy").stat().st_mtime_ns == stamp
    img, label = second[5]
    assert img.dtype == torch.uint8 and img.shape == (3, 16, 16) and label in (0, 1)
    assert isinstance(second.images, np.memmap) or isinstance(second.images.base, np.memmap)
    # the cached pixels are the decoded, centre-cropped, resized file
    from chapter11.data import decode_image, folder_files

    files, _, _ = folder_files(messy_folder)
    readable = [f for f in files if f[0].name != "broken.png"]
    assert np.array_equal(second.images[7], decode_image(readable[7][0], 16).transpose(2, 0, 1))


def test_cache_is_rebuilt_when_the_folder_changes(messy_folder, tmp_path):
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning):
        CachedImageFolder(messy_folder, image_size=8, cache_dir=cache, progress=False)
    extra = messy_folder / "a" / "zzz_new.png"
    Image.new("RGB", (10, 10)).save(extra)
    try:
        with pytest.warns(UserWarning):
            again = CachedImageFolder(messy_folder, image_size=8, cache_dir=cache, progress=False)
        assert again.built and len(again) == 301
    finally:
        extra.unlink()


def test_training_streams_from_the_cache_with_workers(messy_folder, tmp_path):
    with pytest.warns(UserWarning):
        data = CachedImageFolder(messy_folder, image_size=32, cache_dir=tmp_path / "c", progress=False)
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, image_size=32, channels=3, width=4, num_classes=2)
    D = DCGANDiscriminator(image_size=32, channels=3, width=4, num_classes=2)
    h = train(G, D, data, TrainConfig(steps=3, batch_size=16, num_workers=2, progress=False, log_every=1,
                                      device="cpu"))
    assert h.as_dict()["step"] == [1, 2, 3]


def test_cli_streams_an_image_folder(messy_folder, tmp_path):
    r = subprocess.run([sys.executable, "-m", "chapter11", "train", "--data", str(messy_folder), "--stream",
                        "--image-size", "32", "--steps", "2", "--batch-size", "8", "--width", "4", "--num-workers", "1",
                        "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "skipped 2 file(s)" in r.stderr
    assert (tmp_path / "run" / "samples.png").is_file()


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="holds no image files"):
        CachedImageFolder(tmp_path, image_size=16, progress=False)
