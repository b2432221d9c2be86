"""Multi-process training on the CPU with gloo, launched the way users launch it: torchrun."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from chapter11.checkpoint import load_checkpoint
from chapter11.data import toy_distribution
from chapter11.distributed import rank_seed
from chapter11.models import ToyDiscriminator, ToyGenerator

HERE = Path(__file__).resolve().parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def reference_run(init, steps=4, B=16, n_critic=2, lam=0.1, seed=5, world=2):
    """One process, batch world·B, drawing each rank's share from that rank's generator in the
    trainer's order (data, then z, then α). Written out by hand as an independent check."""
    G, D = ToyGenerator(width=32), ToyDiscriminator(width=32)
    torch.nn.utils.vector_to_parameters(init["G"].clone(), G.parameters())  # it keeps views: clone
    torch.nn.utils.vector_to_parameters(init["D"].clone(), D.parameters())
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    gens = [torch.Generator().manual_seed(rank_seed(seed, r)) for r in range(world)]
    ring = toy_distribution("ring8")
    for _ in range(steps):
        for _ in range(n_critic):
            xs, zs, alphas = [], [], []
            for g in gens:
                xs.append(ring.sample(B, g))
                zs.append(torch.randn(B, 2, generator=g))
                alphas.append(torch.rand(B, 1, generator=g))
            x, alpha = torch.cat(xs), torch.cat(alphas)  # (world·B, 2), (world·B, 1)
            with torch.no_grad():
                fake = G(torch.cat(zs))
            x_hat = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            loss = D(fake).mean() - D(x).mean() + lam * ((grad.norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        zs = []
        for g in gens:
            ring.sample(B, g)  # the trainer draws a real batch in the generator step too
            zs.append(torch.randn(B, 2, generator=g))
        g_loss = -D(G(torch.cat(zs))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return torch.nn.utils.parameters_to_vector(G.parameters()), torch.nn.utils.parameters_to_vector(D.parameters())


def test_two_ranks_stay_identical_and_match_one_process_with_the_combined_batch(tmp_path):
    r = subprocess.run(TORCHRUN + [str(HERE / "ddp_worker.py"), str(tmp_path)], capture_output=True, text=True,
                       timeout=300, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res = torch.load(tmp_path / "ddp_result.pt", weights_only=True)
    assert res["world_size"] == 2 and len(res["max_diffs"]) == 4
    assert all(d == 0.0 for d in res["max_diffs"])  # identical on both ranks after every step
    assert "needs CUDA" in res["syncbn_error"]
    g_ref, d_ref = reference_run(res["init"])
    assert (res["init"]["G"] - res["final"]["G"]).abs().max() > 1e-3, res  # it did train
    assert torch.allclose(res["final"]["G"], g_ref, atol=1e-5)
    assert torch.allclose(res["final"]["D"], d_ref, atol=1e-5)


def test_interrupted_two_process_run_resumes_with_one_process(tmp_path):
    out = tmp_path / "run"
    args = ["-m", "chapter11", "train", "--data", "ring8", "--loss", "wgan-gp", "--gp-weight", "0.1", "--n-critic", "2",
            "--batch-size", "32", "--width", "32", "--seed", "1", "--out", str(out), "--no-progress", "--log-every", "1",
            "--checkpoint-every", "5"]
    proc = subprocess.Popen(TORCHRUN + args + ["--steps", "100000"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)  # torchrun passes the signal to both workers, which die mid-run
    proc.wait(timeout=60)
    assert ckpt.exists(), proc.stderr.read().decode()[-3000:]
    state = load_checkpoint(ckpt)  # atomic writes: whatever is there is complete
    step, world = state["step"], state["world_size"]
    assert world == 2 and step % 5 == 0 and step > 0
    r = subprocess.run([sys.executable] + args + ["--steps", str(step + 3), "--resume"], capture_output=True,
                       text=True, timeout=300, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = load_checkpoint(ckpt)
    assert resumed["step"] == step + 3 and resumed["world_size"] == 1
    steps_logged = [rec["step"] for rec in resumed["history"]]
    assert steps_logged[-3:] == [step + 1, step + 2, step + 3]
    G = ToyGenerator(width=32)
    G.load_state_dict(resumed["generator"])
    assert torch.isfinite(G(torch.randn(10, 2))).all()


@pytest.mark.parametrize("flags", [dict(amp=True), dict(channels_last=True)])
def test_amp_and_channels_last_train_on_the_cpu(flags):
    from chapter11.data import ImageData
    from chapter11.models import DCGANDiscriminator, DCGANGenerator
    from chapter11.train import TrainConfig, train

    data = ImageData(torch.rand(32, 1, 32, 32) * 2 - 1, torch.zeros(32, dtype=torch.long), 1, "noise")
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, image_size=32, width=4), DCGANDiscriminator(image_size=32, width=4, norm="layer")
    h = train(G, D, data, TrainConfig(loss="wgan-gp", steps=3, batch_size=8, n_critic=1, device="cpu", progress=False,
                                      log_every=1, **flags))
    assert len(h) == 3 and all(torch.isfinite(torch.tensor(h.as_dict()["gp"])))
    if flags.get("channels_last"):
        w = next(m.weight for m in D.modules() if isinstance(m, torch.nn.Conv2d))
        assert w.is_contiguous(memory_format=torch.channels_last)


def test_amp_keeps_the_penalty_in_float32():
    from chapter11.train import Trainer, TrainConfig

    G, D = ToyGenerator(width=16), ToyDiscriminator(width=16)
    t = Trainer(G, D, toy_distribution("ring8"), TrainConfig(loss="wgan-gp", amp=True, device="cpu", progress=False))
    t.critic_step()
    assert t.last["gp"].dtype == torch.float32 and t.last["d_loss"].dtype == torch.float32


def test_channels_last_refuses_point_data():
    from chapter11.train import Trainer, TrainConfig

    with pytest.raises(ValueError, match="channels_last is for image data"):
        Trainer(ToyGenerator(), ToyDiscriminator(), toy_distribution("ring8"), TrainConfig(channels_last=True))


def test_torch_compile_gives_the_same_losses_as_eager():
    """compile=True wraps the forward passes; the penalty's double backward stays eager. Same numbers."""
    from chapter11.train import TrainConfig, train

    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        G, D = ToyGenerator(width=16), ToyDiscriminator(width=16)
        h = train(G, D, toy_distribution("ring8"), TrainConfig(loss="wgan-gp", steps=3, compile=compiled,
                                                                device="cpu", progress=False, log_every=1))
        runs.append(torch.tensor([h.as_dict()[k] for k in ("d_loss", "g_loss", "gp")]))
    assert torch.allclose(runs[0], runs[1], rtol=1e-4, atol=1e-5)
