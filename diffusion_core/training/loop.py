"""The training-loop skeleton that the diffusion, VAE and classifier trainers share, and the run directory.

A trainer subclasses `TrainingLoop` and supplies one optimisation step (`train_step`); the skeleton owns
the step counter, the progress bar, the running means of the step metrics, the log records (one per
`log_every` steps, appended to the run's metrics.jsonl) and when to checkpoint. Hooks, all optional:
`reduce` (sum the metric totals over ranks), `record_extra` (more fields of a log record), `postfix`
(the bar's text), `after_step` (previews), `checkpoint` and `finish`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..models.checkpoint import Checkpoint, load_checkpoint

CHECKPOINT_NAME = "ckpt_last.safetensors"
"""A run's full training state (atomic, rewritten every checkpoint_every steps and at the end)."""
METRICS_NAME = "metrics.jsonl"
"""A run's log: one JSON record per line."""


def open_run(out_dir: Path, resume: bool) -> Checkpoint | None:
    """The run's last checkpoint when resuming, None for a new run. Refuses to start a new run over an
    existing one (FileExistsError) and to resume one that has no checkpoint (FileNotFoundError)."""
    path = out_dir / CHECKPOINT_NAME
    if not resume and path.exists():
        raise FileExistsError(f"{path} exists: pass --resume or choose another --out")
    if resume and not path.exists():
        raise FileNotFoundError(f"--resume: no {path}")
    return load_checkpoint(path) if resume else None


def write_config(out_dir: Path, config: dict[str, Any]) -> None:
    """config.json: the run's effective config."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def append_record(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_records(path: Path, upto: int) -> list[dict[str, Any]]:
    """Records with step <= upto (later ones came after the last checkpoint and will be redone)."""
    if not path.exists():
        return []
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if r["step"] <= upto]


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


class TrainingLoop:
    """Run `train_step` until `steps`, logging the means of its metrics every `log_every` steps.

    metric_keys names the values train_step returns (a float tensor [K]); `accum` [K + 1] holds their
    sums and the step count since the last log. Log records are {"step", *metric means, *record_extra(),
    "samples_per_s"}, appended (by the main process only) to `metrics_path` (None: not written) and to
    `history`. `checkpoint` runs
    when `checkpoint_due()` (every `checkpoint_every` steps before the last, by default); `finish` runs
    after the last step and returns what `run` returns.
    """

    metric_keys: tuple[str, ...] = ()

    def __init__(self, *, steps: int, start_step: int, log_every: int, checkpoint_every: int | None,
                 batch_size: int, desc: str, metrics_path: Path | None, is_main: bool = True,
                 show_progress: bool = True) -> None:
        self.steps, self.step = steps, start_step
        self.log_every, self.checkpoint_every, self.batch_size = log_every, checkpoint_every, batch_size
        self.desc, self.metrics_path, self.is_main, self.show_progress = desc, metrics_path, is_main, show_progress
        self.accum = torch.zeros(len(self.metric_keys) + 1, dtype=torch.float64)
        self.history: list[dict[str, Any]] = []

    def train_step(self) -> torch.Tensor:
        """One optimisation step at self.step (not yet incremented); returns its metrics [K], detached."""
        raise NotImplementedError

    def run(self) -> Any:
        bar = tqdm(total=self.steps, initial=self.step, disable=not self.show_progress, dynamic_ncols=True,
                   mininterval=1.0, desc=self.desc)
        tick, tick_step = time.perf_counter(), self.step
        while self.step < self.steps:
            metrics = self.train_step()
            self.accum += torch.cat([metrics.detach().cpu().double(), torch.ones(1, dtype=torch.float64)])
            self.step += 1
            bar.update(1)
            if self.step % self.log_every == 0:
                rate = self.batch_size * (self.step - tick_step) / max(time.perf_counter() - tick, 1e-9)
                bar.set_postfix(self.postfix(self.log(rate)))
                tick, tick_step = time.perf_counter(), self.step
            self.after_step()
            if self.checkpoint_due():
                self.checkpoint()
        bar.close()
        return self.finish()

    def log(self, samples_per_s: float) -> dict[str, Any]:
        """Close a log interval: the metric means since the last log as a record (written by the main process)."""
        totals = self.reduce(self.accum)
        means = (totals[:-1] / totals[-1]).tolist()
        self.accum.zero_()
        record = {"step": self.step, **dict(zip(self.metric_keys, means)), **self.record_extra(),
                  "samples_per_s": samples_per_s}
        if self.is_main:
            self.history.append(record)
            if self.metrics_path is not None:
                append_record(self.metrics_path, record)
        return record

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        """Metric totals summed over processes (one process: as they are)."""
        return totals

    def record_extra(self) -> dict[str, Any]:
        return {}

    def postfix(self, record: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{record['loss']:.4f}"}

    def after_step(self) -> None:
        """After every step, once it is logged (e.g. previews)."""

    def checkpoint_due(self) -> bool:
        return bool(self.checkpoint_every) and self.step % self.checkpoint_every == 0 and self.step < self.steps

    def checkpoint(self) -> None:
        """Save the training state."""

    def finish(self) -> Any:
        """After the last step; its value is run()'s."""
