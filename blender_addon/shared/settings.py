"""Sampling defaults and ranges: the one definition that every layer imports (stdlib only, imports nothing).

The panel's Normal quality, the scripting API, a generate request that leaves a field out, the server's,
`generate`'s and `eval`'s flags and the core's generator all sample with these. Measured on the bundled model
(README "Sampling speed"): stochastic steps at moderate guidance keep thin parts such as legs and poles
connected far more often than deterministic ones (DDIM, DPM-Solver++ ODE). With broken pieces joined
(DEFAULT_JOIN_PARTS), 15 DPM-Solver++(2M) SDE steps kept the quality bars of 20 on 1024 samples (10 do not). On
the colour-conditional models, 25 steps instead of 15 bring both closer to the data (README "How many steps":
tuning seeds 300000, 32 per class: 1-NNA 0.568 -> 0.532 at 16^3, 0.584 -> 0.559 at 32^3; solids less swollen; at 32^3
stools and lamps a little more often in pieces) for 1.2x the time per object (440 / 413 ms on 2 cores).
"""
from __future__ import annotations

from typing import Literal, get_args

Sampler = Literal["ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde"]
"""ddpm: ancestral; ddim: deterministic (eta adds noise); dpmpp_2m: DPM-Solver++(2M); dpmpp_2m_sde: its stochastic form."""
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)
Spacing = Literal["trailing", "logsnr"]
"""How a sampler spreads its steps over the timeline (core: samplers.sampling_timesteps): evenly in t ("trailing",
what every model samples with), or evenly in log-SNR between the same end points ("logsnr", measured with `eval
--spacing`, not kept: README "Steps spread evenly in log-SNR (tried)"). Not a request field."""
SPACINGS: tuple[Spacing, ...] = get_args(Spacing)
DEFAULT_SAMPLER = "dpmpp_2m_sde"
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 1.5
DEFAULT_ETA = 0.0
DEFAULT_ALPHA_THRESHOLD = 0.9
MeshStyle = Literal["smooth", "cubes"]
MESH_STYLES: tuple[MeshStyle, ...] = get_args(MeshStyle)
DEFAULT_MESH_STYLE = "smooth"
DEFAULT_MESH_SIZE = 1.0

MAX_SEED = 2**32 - 1
"""Seeds are 0..MAX_SEED; object i of a request with seed s uses (s + i) mod 2^32."""
MAX_STEPS = 4000
"""The protocol's cap on steps; a model allows at most its number of timesteps, a server its `max_steps`."""
DEFAULT_MAX_STEPS = 1000
"""A server's default `max_steps` limit, and the panel's range."""
MAX_GUIDANCE = 20.0
"""Guidance scales are 0..MAX_GUIDANCE (0: unconditional, 1: conditional only)."""

DEFAULT_JOIN_PARTS = True
"""Join broken parts: where the object at the alpha threshold falls apart, each piece is joined to the largest
along the path through the decoder's most confident voxels (alpha >= JOIN_ALPHA_FLOOR), whose alpha is raised
to the threshold; a piece that cannot be joined and has at most JOIN_SPECK_VOXELS_16 voxels (at 16^3: a
floating speck) is removed. Measured (README "Thin parts"): stools, tables and lamps stay in one piece; occupancy
+0.1%."""
JOIN_ALPHA_FLOOR = 0.2
"""The least alpha a joining path may pass through (picked on the tuning seeds, scripts/join_floor_sweep.py: 0.5
left lamps broken, 0.3 left more stools and 32^3 lamps broken than 0.2 with the fine-tuned decoders, 0.1 joins
through voxels the decoder barely sees and joined no more)."""
JOIN_SPECK_VOXELS_16 = 2
"""A piece left apart after joining is removed when it has at most this many voxels on a 16^3 grid, scaled by volume
at other resolutions (16 at 32^3; none at 4^3): a floating speck. Picked on the tuning seeds (README "Thin
parts"): of the 16^3 pieces no path joins, stools' and mugs' are 1-5 voxels a gap of 1-4 voxels away, lamps'
33-69 voxels (shade or base, the pole missing); 3-5 voxels can be most of a stool leg, so they stay."""
