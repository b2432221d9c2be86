"""The shipped generators: they load, they are as good as their cards say, and they can be re-made."""
import math

import pytest
import torch

from chapter11 import pretrained
from chapter11.cli import main
from chapter11.models import build_model

ISSUE_MODELS = {"mlp-nonsaturating-mnist5k", "mlp-wgan-mnist5k", "mlp-wgan-gp-mnist5k",
                "ralsgan-dcgan-fashion32", "cdcgan-mnist5k", "cdcgan-fashion"}
NAMES = pretrained.available()  # every shipped model, the documented collapse included


def test_available_lists_every_model_of_the_issue():
    assert ISSUE_MODELS <= set(pretrained.available())


def test_unknown_name_is_refused_with_the_list_of_names():
    with pytest.raises(ValueError, match="cdcgan-mnist5k"):
        pretrained.load("dcgan-celeba")


def test_cli_reproduce_unknown_name_exits_2(capsys):
    assert main(["reproduce", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "No pretrained model named 'no-such-model'" in err and "mlp-wgan-gp-mnist5k" in err


def test_all_generator_weights_together_stay_under_25_mb():
    total = sum(p.stat().st_size for p in pretrained.WEIGHTS_DIR.glob("*.pt"))
    assert len(list(pretrained.WEIGHTS_DIR.glob("*.pt"))) >= len(ISSUE_MODELS)
    assert total < 25e6, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", NAMES)
def test_card_has_what_a_reader_needs(name):
    c = pretrained.card(name)
    for key in ("train_args", "seed", "steps", "wall_time_s", "metrics", "eval", "first_losses", "generator"):
        assert key in c, key
    assert c["eval"]["data"] in c["train_args"]
    assert c["steps"] == int(c["train_args"][c["train_args"].index("--steps") + 1])
    assert c["seed"] == int(c["train_args"][c["train_args"].index("--seed") + 1])
    assert c["wall_time_s"] > 0 and math.isfinite(c["metrics"]["fid"])
    md = (pretrained.WEIGHTS_DIR / f"{name}.md").read_text()
    assert f"reproduce {name}" in md and f"{c['metrics']['fid']:.4g}" in md


@pytest.mark.parametrize("name", NAMES)
def test_loads_in_eval_mode_and_generates_the_right_shape(name):
    G = pretrained.load(name)
    assert not G.training and all(p.dtype == torch.float32 for p in G.parameters())
    size = pretrained.card(name)["eval"]["image_size"] or 28
    z = torch.randn(6, G.latent_dim, generator=torch.Generator().manual_seed(0))
    labels = (torch.arange(6) % G.num_classes,) if G.num_classes else ()
    with torch.no_grad():
        x = G(z, *labels)
    assert x.shape == (6, 1, size, size)
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.1  # tanh range, and not a constant image


def test_weights_file_is_a_plain_state_dict_for_weights_only_loading():
    path = pretrained.WEIGHTS_DIR / "cdcgan-mnist5k.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state["net.0.weight"].dtype == torch.float16  # stored in half precision to fit the size budget


@pytest.mark.parametrize("name", NAMES)
def test_quality_floor_recorded_in_the_card(name):
    """FID within 20 % of the card, far better than an untrained generator, and conditional
    generators draw the digit (or garment) they are asked for at least 90 % of the time
    (or the lower floor a card records with its reason)."""
    c = pretrained.card(name)
    m = pretrained.evaluate_card(name)
    assert abs(m["fid"] - c["metrics"]["fid"]) <= 0.2 * c["metrics"]["fid"], (m["fid"], c["metrics"]["fid"])
    torch.manual_seed(0)
    untrained = build_model(c["generator"])  # the same architecture with fresh random weights
    e = c["eval"]
    from chapter11.data import load_images
    from chapter11.metrics import evaluate

    real = load_images(e["data"], image_size=e["image_size"])
    chance = evaluate(untrained.eval(), real, n=1000, extractor=e["extractor"], seed=e["seed"])
    if c.get("collapsed"):  # shipped as a documented failure: the collapse must still be what we measure
        assert m["recall"] < 0.05 and max(m["class_histogram"]) > 0.9 * m["n"]
    else:
        assert m["fid"] < chance["fid"] / 2, (m["fid"], chance["fid"])  # the weakest non-collapsed model, clipping-WGAN: 729 vs 3,685
    if c["generator"]["hparams"].get("num_classes"):
        # 0.90 unless the card records a lower floor and says why (cdcgan-fashion: its judge is 91.8 % accurate)
        assert m["class_accuracy"] >= c.get("class_accuracy_floor", 0.90)


@pytest.mark.parametrize("name", NAMES)
def test_short_retraining_from_the_card_reproduces_its_first_losses(name, tmp_path):
    c = pretrained.card(name)
    first = c["first_losses"]
    result = pretrained.reproduce(name, tmp_path / "run", stop_after=first[-1]["step"], progress=False)
    got = result["history"][:len(first)]
    assert [r["step"] for r in got] == [r["step"] for r in first]
    recorded = c.get("first_losses_by_cpu", {}).get(pretrained.cpu_signature())
    # Same seed, code and thread count on a CPU kind with a record: equal up to float32 noise (bit-identical
    # where measured). On a CPU kind without one, other kernels round differently and training amplifies it:
    # between the two kinds we measured, the first record (step 20) differed by at most 0.8 % (ralsgan's d_loss),
    # the second by up to 33 % (ralsgan's g_loss, a difference of two nearly equal squares). So there only the
    # first record is compared, within 2 %. Training with seed 1 instead of 0 moved that record by 3.3 %
    # (mlp-wgan-gp-mnist5k) to 107 % (ralsgan-dcgan-fashion32), so a wrong seed still fails.
    want_list, rel = (recorded, 1e-5) if recorded else (first[:1], 2e-2)
    for want, have in zip(want_list, got):
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "gp"):
            assert have[key] == pytest.approx(want[key], rel=rel, abs=1e-6 if recorded else 1e-3), (key, want, have)
    assert (tmp_path / "run" / "checkpoint.pt").is_file()  # a normal run folder, resumable like any other
