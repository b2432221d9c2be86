"""The command line, run as a user would run it (in a subprocess)."""
import json
import subprocess
import sys

import pytest
import torch

from chapter11.checkpoint import load_checkpoint


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "chapter11", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_train_toy_writes_every_output_and_resumes(tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--data", "ring8", "--loss", "wgan-gp", "--steps", "6", "--seed", "3", "--out", str(out),
            "--n-critic", "2", "--batch-size", "64", "--log-every", "2", "--gp-weight", "0.1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} >= {"metrics.json", "history.csv", "samples.png", "checkpoint.pt"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["score"]) == {"modes", "high_quality", "reverse_kl"} and metrics["steps"] == 6
    assert (out / "history.csv").read_text().splitlines()[0] == "step,d_loss,g_loss,d_real,d_fake,gp,seconds"
    assert load_checkpoint(out / "checkpoint.pt")["config"]["gp_weight"] == 0.1
    r = cli("train", "--data", "ring8", "--loss", "wgan-gp", "--steps", "8", "--seed", "3", "--out", str(out),
            "--n-critic", "2", "--batch-size", "64", "--log-every", "2", "--gp-weight", "0.1", "--no-progress",
            "--resume")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 8
    assert [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()[1:]] == \
        ["2", "4", "6", "8"]


def test_train_conditional_images_and_sample(tmp_path):
    out = tmp_path / "img"
    r = cli("train", "--data", "mnist-5k", "--model", "mlp", "--conditional", "--steps", "2", "--out", str(out),
            "--no-progress", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    r = cli("sample", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(tmp_path / "grid.png"), "--n", "20")
    assert r.returncode == 0, r.stderr
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (8 * 30 + 2, 3 * 30 + 2)  # 8 columns × 3 rows of 28 px tiles with 2 px padding
    r = cli("sample", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(tmp_path / "g.png"), "--label", "12")
    assert r.returncode == 2 and "--label must be in [0, 9]" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "cifar", "--out", "x"], "Unknown --data 'cifar'. Valid names: ring8, grid25, swissroll"),
    (["train", "--data", "ring8", "--loss", "gan", "--out", "x"], "Unknown loss 'gan'"),
    (["train", "--data", "ring8", "--steps", "many", "--out", "x"], "invalid int value"),
    (["train", "--data", "ring8", "--steps", "0", "--out", "x"], "steps must be positive"),
    (["train", "--data", "ring8", "--out", "x", "--resume"], "no checkpoint"),
    (["train", "--data", "ring8", "--conditional", "--out", "x"], "needs labelled data"),
    (["sample", "--checkpoint", "missing.pt", "--out", "g.png"], "No checkpoint at"),
    (["fly"], "invalid choice"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(tmp_path, args, message):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_sample_refuses_a_foreign_checkpoint(tmp_path):
    torch.save({"state": torch.zeros(1)}, tmp_path / "x.pt")
    r = cli("sample", "--checkpoint", str(tmp_path / "x.pt"), "--out", str(tmp_path / "g.png"))
    assert r.returncode == 2 and "not a chapter11 checkpoint" in r.stderr


def test_seed_decides_the_initial_weights(tmp_path):
    """--seed must fix the models' initialisation too, not only the data order: the global RNG
    starts from a random state in every process, so an unseeded init differs run to run."""
    from chapter11.cli import build_parser, build_run

    def weights(seed):
        torch.seed()  # whatever state the process happens to be in
        args = build_parser().parse_args(["train", "--data", "ring8", "--seed", str(seed), "--out", str(tmp_path),
                                          "--no-progress"])
        trainer, _, _ = build_run(args)
        return torch.cat([p.detach().flatten() for p in [*trainer.G.parameters(), *trainer.D.parameters()]])

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))
