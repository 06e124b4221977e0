"""Small CPU batches as oneDNN Graph traces: same outputs as eager, one trace per shape, eager where it does not pay."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion_core.models import cpu_graph
from diffusion_core.models.cpu_graph import MAX_BATCH, MAX_SHAPES, SmallBatchGraphs
from diffusion_core.models.unet import UNet3D, UNetConfig
from diffusion_core.pipeline import VoxelGenerator
from tests.tiny_models import TINY_UNET, randomised

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "default_16.safetensors"


@pytest.fixture()
def unet() -> UNet3D:
    model = randomised(UNet3D(UNetConfig(resolution=8, in_channels=4, num_classes=3, **TINY_UNET))).eval()
    return model.to(memory_format=torch.channels_last_3d)


def _inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 4, 8, 8, 8, generator=gen).contiguous(memory_format=torch.channels_last_3d)
    return x, torch.randint(0, 1000, (batch,), generator=gen), torch.randint(0, 4, (batch,), generator=gen)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_graph_gives_the_eager_output(unet, batch):
    graphs = SmallBatchGraphs(unet)
    x, t, y = _inputs(batch)
    with torch.no_grad():
        eager = unet(x, t, y)
        for _ in range(3):  # the trace, its profiling runs, then the fused graph
            torch.testing.assert_close(graphs(x, t, y=y), eager, rtol=0, atol=1e-4)
    (shapes,) = graphs.graphs  # one trace, at batch 2 for a batch of one
    assert shapes[0][0][0] == max(batch, 2) and graphs.graphs[shapes] is not None


def test_one_trace_per_shape_and_large_or_unusual_calls_stay_eager(unet):
    graphs = SmallBatchGraphs(unet)
    with torch.no_grad():
        for batch in (2, 1, 3, 1):
            graphs(*_inputs(batch))
        assert len(graphs.graphs) == 2  # batch 2 (also running the batches of one) and 3
        big = _inputs(MAX_BATCH + 1)
        torch.testing.assert_close(graphs(*big), unet(*big), rtol=0, atol=0)  # eager: bit for bit
        x, t, _ = _inputs(2)
        with pytest.raises(ValueError, match="class-conditional"):
            graphs(x, t, None)  # a None argument runs eagerly, which refuses it for this UNet
        assert len(graphs.graphs) == 2
        for batch in range(2, MAX_BATCH + 1):  # another memory layout is another key: fills the MAX_SHAPES slots
            x, t, y = _inputs(batch)
            graphs(x.contiguous(), t, y)
        assert len(graphs.graphs) == MAX_SHAPES
        extra = _inputs(MAX_BATCH)
        extra = (extra[0].contiguous(), *extra[1:])
        torch.testing.assert_close(graphs(*extra), unet(*extra), rtol=0, atol=0)  # beyond MAX_SHAPES: eager
        assert len(graphs.graphs) == MAX_SHAPES


def test_the_generator_uses_graphs_for_float32_on_the_cpu_unless_switched_off(monkeypatch):
    monkeypatch.delenv(cpu_graph.GRAPH_ENV, raising=False)
    graphed = VoxelGenerator.from_checkpoint(BUNDLED, precision="fp32")
    assert graphed.model.graphs is not None
    assert VoxelGenerator.from_checkpoint(BUNDLED, precision="bf16").model.graphs is None  # autocast stays eager
    monkeypatch.setenv(cpu_graph.GRAPH_ENV, "off")
    eager = VoxelGenerator.from_checkpoint(BUNDLED, precision="fp32")
    assert eager.model.graphs is None
    # One object (batch 2 with guidance) through the graph against eager: float rounding amplified over the
    # default 15 steps (5e-4 measured), well inside the 0.007 batch-invariance tolerance stated in the README.
    a, b = graphed.generate([7], [123]), eager.generate([7], [123])
    assert len(graphed.model.graphs.graphs) == 1
    np.testing.assert_allclose(a, b, rtol=0, atol=0.007)
    assert ((a[:, 3] >= 0.9) == (b[:, 3] >= 0.9)).mean() > 0.999


def test_a_shape_that_cannot_be_traced_warns_once_and_stays_eager(unet, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(torch.jit, "trace", broken)
    graphs = SmallBatchGraphs(unet)
    x, t, y = _inputs(2)
    with torch.no_grad(), pytest.warns(RuntimeWarning, match="no TorchScript here"):
        out = graphs(x, t, y)
    torch.testing.assert_close(out, unet(x, t, y), rtol=0, atol=0)
    assert list(graphs.graphs.values()) == [None]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning for the same shape
        graphs(x, t, y)
