"""The learning-rate schedule both trainers use: linear warm-up, constant, then a cosine decay."""
from __future__ import annotations

import math


def warmup_cosine_lr(step: int, lr: float, warmup_steps: int, decay_start: int, decay_steps: int,
                     final_fraction: float = 0.0) -> float:
    """The learning rate of (0-based) `step`: `lr` times a linear warm-up over `warmup_steps` times a cosine
    from 1 at `decay_start` to `final_fraction` at `decay_start + decay_steps`, held there after
    (`decay_steps` 0: no decay)."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if decay_steps <= 0:
        return lr * warm
    elapsed = min(decay_steps, max(0, step - decay_start))
    return lr * warm * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * elapsed / decay_steps)))
