"""The training loop: it learns, it is reproducible, it resumes exactly, and it fails loudly."""
import math

import pytest
import torch
from torch import nn

from chapter11.checkpoint import load_checkpoint, save_checkpoint
from chapter11.data import ImageData, toy_distribution
from chapter11.models import DCGANDiscriminator, DCGANGenerator, ToyDiscriminator, ToyGenerator
from chapter11.train import HISTORY_KEYS, Callback, Trainer, TrainConfig, TrainingDiverged, train


def cfg(**kw):
    base = dict(steps=6, batch_size=32, log_every=1, progress=False, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def toy_pair(width=32, seed=0):
    torch.manual_seed(seed)
    return ToyGenerator(width=width), ToyDiscriminator(width=width)


def losses(history):
    d = history.as_dict()
    return [d[k] for k in ("d_loss", "g_loss", "d_real", "d_fake", "gp")]


def test_training_moves_the_generator_onto_the_data():
    """A single Gaussian at (2, -1): after 300 steps the generated mean sits within 0.25 of it."""
    target = torch.tensor([2.0, -1.0]) + 0.1 * torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    G, D = toy_pair()
    before = G(torch.randn(2000, 2)).mean(0)
    train(G, D, target, cfg(steps=300, batch_size=128, lr_g=1e-3, lr_d=1e-3, log_every=100))
    after = G(torch.randn(2000, 2)).mean(0)
    assert (before - torch.tensor([2.0, -1.0])).norm() > 1.0
    assert (after - torch.tensor([2.0, -1.0])).norm() < 0.25


def test_history_has_the_contract_keys():
    G, D = toy_pair()
    h = train(G, D, toy_distribution("ring8"), cfg(steps=5, log_every=2))
    d = h.as_dict()
    assert tuple(d) == HISTORY_KEYS
    assert d["step"] == [2, 4, 5]  # every log_every steps, and always the last one
    assert all(math.isfinite(v) for v in d["d_loss"] + d["g_loss"])


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp", "ralsgan"])
def test_same_seed_same_numbers(loss):
    runs = []
    for _ in range(2):
        G, D = toy_pair(seed=3)
        runs.append(losses(train(G, D, toy_distribution("grid25"), cfg(loss=loss, n_critic=2, seed=7))))
    assert runs[0] == runs[1]
    G, D = toy_pair(seed=3)
    other = losses(train(G, D, toy_distribution("grid25"), cfg(loss=loss, n_critic=2, seed=8)))
    assert other != runs[0]


@pytest.mark.parametrize("loss", ["wgan-gp", "rasgan", "wgan"])
def test_interrupted_and_resumed_run_equals_a_straight_run(tmp_path, loss):
    kw = dict(loss=loss, n_critic=2, seed=1, instance_noise=0.1 if loss != "wgan" else 0.0, lr_decay="linear")
    G, D = toy_pair()
    straight = train(G, D, toy_distribution("ring8"), cfg(steps=8, **kw))

    class StopAt4(Callback):
        def on_step_end(self, trainer):
            return trainer.step == 4

    G, D = toy_pair()
    first = train(G, D, toy_distribution("ring8"), cfg(steps=8, out_dir=str(tmp_path), **kw), callbacks=[StopAt4()])
    assert first.as_dict()["step"][-1] == 4 and load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4
    G, D = toy_pair(seed=99)  # fresh weights: everything must come from the checkpoint
    resumed = train(G, D, toy_distribution("ring8"), cfg(steps=8, out_dir=str(tmp_path), **kw),
                    resume_from=tmp_path / "checkpoint.pt")
    assert losses(resumed) == losses(straight)


def test_resume_refuses_a_checkpoint_from_another_model_or_loss(tmp_path):
    G, D = toy_pair()
    train(G, D, toy_distribution("ring8"), cfg(steps=2, out_dir=str(tmp_path)))
    ckpt = tmp_path / "checkpoint.pt"
    G2, D2 = ToyGenerator(width=16), ToyDiscriminator(width=32)
    with pytest.raises(ValueError, match="holds a generator ToyGenerator"):
        train(G2, D2, toy_distribution("ring8"), cfg(steps=4), resume_from=ckpt)
    G3, D3 = toy_pair()
    with pytest.raises(ValueError, match="trained with loss 'nonsaturating'"):
        train(G3, D3, toy_distribution("ring8"), cfg(steps=4, loss="hinge"), resume_from=ckpt)


def test_weight_clipping_holds_through_training():
    G, D = toy_pair()
    train(G, D, toy_distribution("ring8"), cfg(loss="wgan", steps=4, n_critic=3, clip_value=0.02, lr_d=0.1))
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.02 + 1e-7


def test_gradient_penalty_trains_the_critic_towards_unit_gradients():
    """With only the penalty acting (λ large), the critic's input-gradient norm moves towards 1."""
    G, D = toy_pair()
    x = torch.randn(64, 2, requires_grad=True)
    before = torch.autograd.grad(D(x).sum(), x)[0].norm(dim=1).mean().item()
    train(G, D, toy_distribution("ring8"), cfg(loss="wgan-gp", steps=60, n_critic=5, gp_weight=100.0, lr_d=1e-3,
                                              lr_g=1e-6, log_every=60))
    after = torch.autograd.grad(D(x).sum(), x)[0].norm(dim=1).mean().item()
    assert abs(after - 1) < 0.2 < abs(before - 1)


class NaNAfter(nn.Module):
    """A critic that starts returning NaN once `poisoned` is set."""

    def __init__(self):
        super().__init__()
        self.inner = ToyDiscriminator(width=16)
        self.poisoned = False

    def forward(self, x):
        out = self.inner(x)
        return out * float("nan") if self.poisoned else out


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    G, D = ToyGenerator(width=16), NaNAfter()

    class Poison(Callback):
        def on_step_end(self, trainer):
            if trainer.step == 4:
                D.poisoned = True

    with pytest.raises(TrainingDiverged, match="diverged at step 5.*last good checkpoint"):
        train(G, D, toy_distribution("ring8"), cfg(steps=10, checkpoint_every=2, out_dir=str(tmp_path)),
              callbacks=[Poison()])
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_callbacks_see_logs_and_can_stop():
    seen = []

    class Spy(Callback):
        def on_log(self, trainer, record):
            seen.append(record["step"])

        def on_step_end(self, trainer):
            return trainer.step >= 3

    G, D = toy_pair()
    h = train(G, D, toy_distribution("ring8"), cfg(steps=50), callbacks=[Spy()])
    assert seen == [1, 2, 3] and h.as_dict()["step"] == [1, 2, 3]


def test_trainer_single_updates_change_only_their_own_network():
    G, D = toy_pair()
    t = Trainer(G, D, toy_distribution("ring8"), cfg())
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    t.critic_step()
    assert all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    d1 = [p.detach().clone() for p in D.parameters()]
    t.generator_step()
    assert all(torch.equal(a, b) for a, b in zip(d1, D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert t.step == 1


def test_conditional_dcgan_trains_on_labelled_images(tmp_path):
    imgs = torch.rand(40, 1, 28, 28) * 2 - 1
    data = ImageData(imgs, torch.arange(40) % 10, 10, "random")
    G = DCGANGenerator(latent_dim=8, image_size=28, width=4, num_classes=10)
    D = DCGANDiscriminator(image_size=28, width=4, num_classes=10, norm="layer")
    h = train(G, D, data, cfg(loss="wgan-gp", steps=3, batch_size=8, out_dir=str(tmp_path)))
    assert len(h) == 3 and (tmp_path / "samples.png").is_file() and (tmp_path / "history.csv").is_file()


def test_bad_inputs_get_clear_errors():
    G, D = toy_pair()
    ring = toy_distribution("ring8")
    with pytest.raises(ValueError, match="Unknown loss"):
        train(G, D, ring, cfg(loss="wasserstein"))
    with pytest.raises(ValueError, match="steps must be positive"):
        train(G, D, ring, cfg(steps=0))
    with pytest.raises(ValueError, match="real_label"):
        train(G, D, ring, cfg(real_label=1.5))
    with pytest.raises(ValueError, match="not for 'wgan'"):
        train(G, D, ring, cfg(loss="wgan", real_label=0.9))
    with pytest.raises(ValueError, match="shape \\(2,\\) but the data has shape \\(1, 28, 28\\)"):
        train(G, D, torch.zeros(10, 1, 28, 28), cfg())
    with pytest.raises(ValueError, match="needs labelled data"):
        train(ToyGenerator(num_classes=3), ToyDiscriminator(num_classes=3), ring, cfg())
    with pytest.raises(ValueError, match="a tensor of samples"):
        train(G, D, [1, 2, 3], cfg())
    with pytest.raises(ValueError, match="device='cuda'"):
        if not torch.cuda.is_available():
            train(G, D, ring, cfg(device="cuda"))
        else:
            raise ValueError("device='cuda' skipped")


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 1})

    def broken(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind


def test_load_checkpoint_rejects_foreign_and_truncated_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a chapter11 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "ok.pt", {"step": 3})
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def _quadrant_images(n, seed):
    """Class c ∈ {0..3} lights up quadrant c: a labelled set whose classes a small D can learn quickly."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.full((n, 1, 28, 28), -1.0) + 0.1 * torch.randn(n, 1, 28, 28, generator=g)
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, 0, 14 * r:14 * r + 14, 14 * q:14 * q + 14] += 1.5
    return ImageData(x, y, 4, "quadrants")


def test_acgan_losses_are_the_adversarial_loss_plus_weighted_cross_entropy():
    import torch.nn.functional as F

    from chapter11.losses import get_loss
    from chapter11.models import make_gan
    data = _quadrant_images(64, 0)
    torch.manual_seed(0)
    G, D = make_gan("dcgan", (1, 28, 28), num_classes=4, width=4, label_mode="projection", aux_classifier=True)
    w = 0.7
    tr = Trainer(G, D, data, cfg(aux_weight=w, batch_size=16))
    seen = []
    hook = D.register_forward_hook(lambda mod, args, kwargs, out: seen.append((args, kwargs, out)), with_kwargs=True)
    tr.critic_step()
    (xr, yr), kw_r, (real_out, real_cls) = seen[0]  # the real batch asks for class logits
    (_, yf), kw_f, fake_out = seen[1]  # the fake batch does not: the class head learns from real images only
    assert kw_r == {"with_classes": True} and kw_f == {} and torch.equal(yr, yf)
    loss = get_loss("nonsaturating")
    expected_d = loss.d_loss(real_out, fake_out) + w * F.cross_entropy(real_cls, yr)
    assert torch.allclose(tr.last["d_loss"], expected_d.detach(), atol=1e-6)
    seen.clear()
    tr.generator_step()
    (_, yg), kw_g, (g_out, g_cls) = seen[0]
    expected_g = loss.g_loss(None, g_out) + w * F.cross_entropy(g_cls, yg)
    assert kw_g == {"with_classes": True} and torch.allclose(tr.last["g_loss"], expected_g.detach(), atol=1e-6)
    hook.remove()


def test_acgan_class_head_learns_the_real_classes():
    from chapter11.models import make_gan
    data = _quadrant_images(128, 0)
    torch.manual_seed(0)
    G, D = make_gan("dcgan", (1, 28, 28), num_classes=4, width=8, label_mode="projection", aux_classifier=True)
    head_before = D.aux.weight.detach().clone()
    train(G, D, data, cfg(aux_weight=1.0, steps=60, batch_size=32))
    test = _quadrant_images(200, 1)
    wrong_label = torch.zeros(len(test.labels), dtype=torch.long)  # the label D is given must not matter
    with torch.no_grad():
        _, logits = D.eval()(test.images, wrong_label, with_classes=True)  # (200, 4)
    acc = (logits.argmax(1) == test.labels).float().mean().item()
    assert not torch.equal(D.aux.weight, head_before)
    assert acc > 0.6, acc  # chance is 0.25: only the cross-entropy term teaches the head the classes


def test_acgan_needs_a_class_head():
    from chapter11.models import make_gan
    data = _quadrant_images(16, 0)
    G, D = make_gan("dcgan", (1, 28, 28), num_classes=4, width=4)  # one-hot D: no class head
    with pytest.raises(ValueError, match="auxiliary classifier"):
        Trainer(G, D, data, cfg(aux_weight=1.0))
    with pytest.raises(ValueError, match="label_mode='projection'"):
        make_gan("dcgan", (1, 28, 28), num_classes=4, width=4, aux_classifier=True)
    with pytest.raises(ValueError, match="aux_weight must not be negative"):
        Trainer(G, D, data, cfg(aux_weight=-1.0))
