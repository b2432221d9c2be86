"""Model shapes, the chapter's layer sizes, the DCGAN recipe and conditioning."""
import pytest
import torch
from torch import nn

from chapter11.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, ToyDiscriminator,
                              ToyGenerator, build_model, make_gan, model_spec)


def linear_sizes(model):
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def test_mlps_have_the_chapters_layer_sizes():
    G, D = MLPGenerator(), MLPDiscriminator()
    assert linear_sizes(G) == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert linear_sizes(D) == [(784, 512), (512, 256), (256, 1)]
    assert isinstance(G.net[-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    z = torch.randn(5, 100)
    x = G(z)
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    assert G.latent_dim == 100 and G.num_classes is None


def test_mlp_sizes_are_configurable():
    G = MLPGenerator(latent_dim=8, hidden=(16,), image_shape=(3, 4, 4))
    assert linear_sizes(G) == [(8, 16), (16, 48)]
    assert G(torch.randn(2, 8)).shape == (2, 3, 4, 4)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    G = DCGANGenerator(latent_dim=16, image_size=size, channels=channels, width=8)
    D = DCGANDiscriminator(image_size=size, channels=channels, width=8)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert D(x).shape == (3,)


def test_dcgan_follows_the_transposed_conv_size_formula():
    """O = (I - 1)·s - 2p + k: for 64×64 the maps go 1 → 4 → 8 → 16 → 32 → 64."""
    G = DCGANGenerator(latent_dim=10, image_size=64, width=4)
    size, sizes = 1, []
    for m in G.modules():
        if isinstance(m, nn.ConvTranspose2d):
            size = (size - 1) * m.stride[0] - 2 * m.padding[0] + m.kernel_size[0]
            sizes.append(size)
    assert sizes == [4, 8, 16, 32, 64]
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [32, 16, 8, 4, 1]


def test_dcgan_init_is_normal_0_02_and_bn_1_0_02():
    G = DCGANGenerator(image_size=64, width=64)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert w.mean().abs() < 1e-3 and w.std().item() == pytest.approx(0.02, rel=0.02)
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    g = torch.cat([m.weight for m in bn])
    assert g.mean().item() == pytest.approx(1.0, abs=0.01) and g.std().item() == pytest.approx(0.02, rel=0.2)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in bn)


def test_dcgan_discriminator_first_layer_has_no_norm_and_norm_is_selectable():
    D = DCGANDiscriminator(image_size=32, width=8, norm="batch")
    layers = list(D.net)
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 2
    D2 = DCGANDiscriminator(image_size=32, width=8, norm="layer")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D2.modules())
    # layer norm is per sample: one sample's score does not depend on the rest of the batch
    x = torch.randn(4, 1, 32, 32)
    assert torch.allclose(D2(x)[:1], D2(x[:1]), atol=1e-6)
    with pytest.raises(ValueError, match="norm must be"):
        DCGANDiscriminator(norm="spectral")


def test_dcgan_rejects_unsupported_sizes():
    with pytest.raises(ValueError, match="28, 32 or 64"):
        DCGANGenerator(image_size=48)


@pytest.mark.parametrize("mode", ["onehot", "embedding"])
@pytest.mark.parametrize("kind", ["mlp", "dcgan", "toy"])
def test_conditional_models_use_their_labels(kind, mode):
    shape = (2,) if kind == "toy" else (1, 28, 28)
    G, D = make_gan(kind, shape, num_classes=10, latent_dim=8, label_mode=mode)
    G.eval(), D.eval()
    z = torch.randn(4, 8)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    x0, x1 = G(z, y0), G(z, y1)
    assert x0.shape == (4, *shape)
    assert not torch.allclose(x0, x1)  # the label changes the sample
    assert not torch.allclose(D(x0, y0), D(x0, y1))  # and the score
    with pytest.raises(ValueError, match="call it as model"):
        G(z)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        D(x0, torch.zeros(3, dtype=torch.long))


def test_unconditional_models_refuse_labels():
    with pytest.raises(ValueError, match="unconditional"):
        ToyGenerator()(torch.randn(2, 2), torch.zeros(2, dtype=torch.long))


def test_toy_models():
    G, D = ToyGenerator(width=32, depth=3), ToyDiscriminator(width=32)
    assert G.latent_dim == 2
    assert sum(isinstance(m, nn.Linear) for m in G.modules()) == 4  # 3 hidden layers + output
    assert D(G(torch.randn(7, 2))).shape == (7,)


def test_model_spec_round_trip():
    G = DCGANGenerator(latent_dim=12, image_size=28, width=8, num_classes=10)
    G2 = build_model(model_spec(G))
    assert type(G2) is DCGANGenerator and G2.hparams == G.hparams
    G2.load_state_dict(G.state_dict())  # same architecture, same keys and shapes
    with pytest.raises(ValueError, match="Cannot rebuild"):
        build_model({"class": "Sequential", "hparams": None})


def test_make_gan_errors():
    with pytest.raises(ValueError, match="2-D points"):
        make_gan("toy", (1, 28, 28))
    with pytest.raises(ValueError, match="for images"):
        make_gan("dcgan", (2,))
    with pytest.raises(ValueError, match="Unknown model kind"):
        make_gan("resnet", (1, 28, 28))


def test_packed_discriminator_scores_groups_of_samples():
    D = ToyDiscriminator(width=8, pack=2)
    x = torch.randn(6, 2)
    out = D(x)
    assert out.shape == (3,)
    # pack i is samples 2i and 2i+1 concatenated: the same as an unpacked MLP on 4-D input
    flat = D.net(x.reshape(3, 4)).squeeze(1)
    assert torch.equal(out, flat)
    assert D.net[0].in_features == 4
    with pytest.raises(ValueError, match="divisible by 2"):
        D(torch.randn(5, 2))


def test_projection_discriminator_is_psi_plus_the_class_vector_times_pooled_features():
    torch.manual_seed(0)
    G, D = make_gan("dcgan", (1, 28, 28), num_classes=10, width=8, label_mode="projection")
    assert G.cond.mode == "onehot" and D.cond is None  # G reads one-hot labels; D gets no label planes
    assert D.net[0].in_channels == 1  # the image alone enters D
    D.eval()
    x = torch.randn(5, 1, 28, 28)
    y = torch.tensor([0, 3, 3, 9, 1])
    with torch.no_grad():
        D.project.weight.normal_()  # make the class term large enough to see
        # the formula by hand: φ = all layers but the last; ψ = the last conv, a dot product with the (16, 7, 7) map
        phi = x
        for layer in list(D.net)[:-1]:
            phi = layer(phi)  # ends as (5, 16, 7, 7)
        psi = (phi * D.net[-1].weight[0]).sum(dim=(1, 2, 3))  # (5,)
        expected = psi + (D.project.weight[y] * phi.sum(dim=(2, 3))).sum(1)
        out = D(x, y)
    assert out.shape == (5,) and torch.allclose(out, expected, atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(D(x, y), D(x, (y + 1) % 10))  # the label changes the score
    with pytest.raises(ValueError, match="call it as model"):
        D(x)
    with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
        D(x, torch.tensor([0, 1, 2, 3, 10]))
    with pytest.raises(ValueError, match="DCGAN discriminator only"):
        make_gan("mlp", (1, 28, 28), num_classes=10, label_mode="projection")
    D2 = build_model(model_spec(D))
    D2.load_state_dict(D.state_dict())  # a checkpoint rebuilds the projection too


def test_acgan_head_reads_the_pooled_features_not_the_label():
    torch.manual_seed(0)
    _, D = make_gan("dcgan", (1, 28, 28), num_classes=10, width=8, label_mode="projection", aux_classifier=True)
    D.eval()
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 2, 3])
    with torch.no_grad():
        score, logits = D(x, y, with_classes=True)
        phi = x
        for layer in list(D.net)[:-1]:
            phi = layer(phi)  # (3, 16, 7, 7)
        expected = phi.sum(dim=(2, 3)) @ D.aux.weight.T + D.aux.bias  # (3, 10)
        assert logits.shape == (3, 10) and torch.allclose(logits, expected, atol=1e-5)
        assert torch.equal(score, D(x, y)) and torch.equal(D(x, (y + 5) % 10, with_classes=True)[1], logits)
    _, D_plain = make_gan("dcgan", (1, 28, 28), num_classes=10, width=8, label_mode="projection")
    with pytest.raises(ValueError, match="aux_classifier=True"):
        D_plain(x, y, with_classes=True)


@pytest.mark.parametrize("mode", ["onehot", "embedding"])
def test_conditional_models_reject_float_or_out_of_range_labels(mode):
    G, D = make_gan("dcgan", (1, 28, 28), num_classes=10, width=4, latent_dim=8, label_mode=mode)
    z, x = torch.randn(2, 8), torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match="integer tensor"):
        G(z, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
        D(x, torch.tensor([3, 10]))
