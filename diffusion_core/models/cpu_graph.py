"""Small CPU batches through oneDNN Graph: one frozen TorchScript trace per input shape.

One guided step of one object is a UNet call at batch 2: on the CPU, ~150 small operators whose dispatch costs
about as much as their arithmetic. Traced, frozen and run with oneDNN Graph fusion (PyTorch's "fuser3"), the
call runs as a few fused partitions: 1.8x faster at batch 2 in float32, and one object 1.4x faster end to end on 1
and 2 threads (`bench/bench_graph_modes.py`, README "Sampling speed"). Large batches are
compute-bound and gain nothing, and each new input shape costs a trace plus two profiling runs (~0.3 s), so
only batches of at most MAX_BATCH take this path, each shape traced once and kept (at most MAX_SHAPES). A batch
of one runs as two, as the eager UNet does (oneDNN Graph cannot take the eager padding's slice).
A graph gives the eager module's output up to float rounding (~4e-6 on the bundled UNet).

`VOXD_GRAPH=off` keeps every call eager.
"""
from __future__ import annotations

import inspect
import os
import warnings

import torch
from torch import Tensor, nn

from .unet import run_cpu_batch_of_one_as_two

MAX_BATCH = 4
"""Calls whose first input has at most this many samples run as graphs (one or two objects with guidance)."""
MAX_SHAPES = 4
"""Graphs kept per module; calls of further shapes stay eager."""
GRAPH_ENV = "VOXD_GRAPH"

_Key = tuple[tuple[tuple[int, ...], torch.dtype, tuple[int, ...]], ...]


def graphs_enabled() -> bool:
    """False when the environment says VOXD_GRAPH=off (or 0/false/no)."""
    return os.environ.get(GRAPH_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


class SmallBatchGraphs:
    """Calls `module` (inference only, CPU, float32) like the module itself, running small batches as frozen
    oneDNN Graph traces. Arguments are bound to the module's forward signature, so keywords work; a call with
    a None argument, a non-tensor, a tensor that needs grad or a batch over MAX_BATCH runs eagerly, and a batch
    of one runs as two (the traces need two). A shape whose trace fails (a torch without TorchScript, an operator
    oneDNN Graph cannot take) warns once and stays eager."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.signature = inspect.signature(module.forward)
        self.graphs: dict[_Key, torch.jit.ScriptModule | None] = {}

    def __call__(self, *args: Tensor | None, **kwargs: Tensor | None) -> Tensor:
        inputs = tuple(self.signature.bind(*args, **kwargs).args)
        if not self._fits(inputs):
            return self.module(*inputs)
        return run_cpu_batch_of_one_as_two(self._run, *inputs)

    @staticmethod
    def _fits(inputs: tuple[object, ...]) -> bool:
        return (bool(inputs) and all(isinstance(v, Tensor) and v.device.type == "cpu" and not v.requires_grad
                                     for v in inputs)
                and inputs[0].dim() > 0 and inputs[0].shape[0] <= MAX_BATCH)  # type: ignore[union-attr]

    def _run(self, *inputs: Tensor) -> Tensor:
        key = tuple((tuple(v.shape), v.dtype, v.stride()) for v in inputs)
        if key not in self.graphs and len(self.graphs) < MAX_SHAPES:
            self.graphs[key] = self._trace(inputs)
        graph = self.graphs.get(key)
        with torch.no_grad():
            return graph(*inputs) if graph is not None else self.module(*inputs)

    def _trace(self, inputs: tuple[Tensor, ...]) -> torch.jit.ScriptModule | None:
        """A frozen trace for these inputs' shapes, or None (with a warning) where tracing or its first runs
        fail. Turns oneDNN Graph fusion on for the process (it concerns only TorchScript, which nothing else
        here runs). TorchScript is deprecated upstream in favour of torch.compile, which compiles for minutes
        and then ran slower here (README "Sampling speed"); its warnings are silenced while tracing."""
        try:
            torch.jit.enable_onednn_fusion(True)
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                graph = torch.jit.freeze(torch.jit.trace(self.module.eval(), inputs, check_trace=False))
                for _ in range(2):  # the profiling runs, after which the executor fuses
                    graph(*inputs)
            return graph
        except Exception as error:  # noqa: BLE001  (a speed-up only: any failure means eager)
            warnings.warn(f"oneDNN Graph trace failed, running {type(self.module).__name__} eagerly for inputs "
                          f"{[tuple(v.shape) for v in inputs]}: {error}", RuntimeWarning, stacklevel=3)
            return None
