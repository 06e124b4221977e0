"""UNet3D: output shapes, conditioning, memory formats, batch-of-one padding and gradient flow."""
import pytest
import torch

from diffusion_core.models.unet import DEFAULT_UNET_16, UNet3D, UNetConfig
from tests.tiny_models import TINY_UNET, randomised


@pytest.mark.parametrize(
    ("resolution", "channels", "learn_sigma", "num_classes", "out_channels"),
    [(16, 4, True, 5, 8), (32, 4, False, None, 4), (16, 1, True, None, 2), (8, 1, False, 3, 1)],
)
def test_output_shape(resolution, channels, learn_sigma, num_classes, out_channels):
    cfg = UNetConfig(
        resolution=resolution, in_channels=channels, learn_sigma=learn_sigma, num_classes=num_classes, **TINY_UNET
    )
    model = UNet3D(cfg)
    x = torch.randn(2, channels, resolution, resolution, resolution)
    y = torch.tensor([0, num_classes]) if num_classes else None
    out = model(x, torch.tensor([0, 999]), y)
    assert out.shape == (2, out_channels, resolution, resolution, resolution)
    assert cfg.out_channels == out_channels
    assert torch.count_nonzero(out) == 0  # zero-initialised output layer


def test_default_config_builds_and_runs():
    model = UNet3D(DEFAULT_UNET_16)
    assert model(torch.randn(2, 4, 16, 16, 16), torch.tensor([1, 2])).shape == (2, 8, 16, 16, 16)


def test_class_label_and_timestep_change_output():
    model = randomised(UNet3D(UNetConfig(resolution=8, num_classes=3, **TINY_UNET))).eval()
    x = torch.randn(1, 4, 8, 8, 8).expand(4, -1, -1, -1, -1)
    out = model(x, torch.tensor([5, 5, 5, 6]), torch.tensor([0, 1, 3, 0]))
    for i in (1, 2, 3):
        assert not torch.allclose(out[0], out[i])


def test_float_timesteps_match_long():
    model = randomised(UNet3D(UNetConfig(resolution=8, **TINY_UNET))).eval()
    x = torch.randn(2, 4, 8, 8, 8)
    torch.testing.assert_close(model(x, torch.tensor([3, 700])), model(x, torch.tensor([3.0, 700.0])))
    assert not torch.allclose(model(x, torch.tensor([3.0, 700.0])), model(x, torch.tensor([3.5, 700.0])))


def test_conditional_model_requires_labels():
    with pytest.raises(ValueError):
        UNet3D(UNetConfig(resolution=8, num_classes=3, **TINY_UNET))(torch.randn(1, 4, 8, 8, 8), torch.tensor([1]))


def test_channels_last_matches_contiguous():
    model = randomised(UNet3D(UNetConfig(resolution=16, num_classes=4, **TINY_UNET))).eval()
    x, t, y = torch.randn(2, 4, 16, 16, 16), torch.tensor([10, 500]), torch.tensor([1, 4])
    with torch.inference_mode():
        expected = model(x, t, y)
        model = model.to(memory_format=torch.channels_last_3d)
        actual = model(x.to(memory_format=torch.channels_last_3d), t, y)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_batch_of_one_matches_batched_and_unpadded():
    model = randomised(UNet3D(UNetConfig(resolution=8, num_classes=3, **TINY_UNET))).eval()
    x, t, y = torch.randn(3, 4, 8, 8, 8), torch.tensor([1, 50, 900]), torch.tensor([0, 2, 3])
    with torch.inference_mode():
        batched = model(x, t, y)
        padded = model(x[1:2], t[1:2], y[1:2])
        model.pad_cpu_batch_of_one = False
        unpadded = model(x[1:2], t[1:2], y[1:2])
    assert padded.shape == (1, 8, 8, 8, 8)
    torch.testing.assert_close(padded, batched[1:2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(unpadded, batched[1:2], rtol=1e-4, atol=1e-4)


def test_gradient_reaches_every_parameter():
    cfg = UNetConfig(resolution=8, num_classes=2, dropout=0.1, **TINY_UNET)
    model = randomised(UNet3D(cfg))
    out = model(torch.randn(3, 4, 8, 8, 8), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2]))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_zero_initialised_output_layer_gets_gradient():
    model = UNet3D(UNetConfig(resolution=8, **TINY_UNET))
    model(torch.randn(2, 4, 8, 8, 8), torch.tensor([1, 2])).sub(1).square().mean().backward()
    assert model.out[-1].weight.grad.abs().sum() > 0


def test_config_validation_and_json_lists():
    with pytest.raises(ValueError):
        UNetConfig(resolution=12, channel_mults=(1, 2, 2, 2))
    with pytest.raises(ValueError):
        UNetConfig(base_channels=12, norm_groups=8)
    cfg = UNetConfig(channel_mults=[1, 2], attention_resolutions=[8])
    assert cfg.channel_mults == (1, 2) and cfg.attention_resolutions == (8,)
    hash(cfg)
