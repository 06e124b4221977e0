"""`python -m diffusion_core ...` entry point (see diffusion_core.cli)."""
import sys

from diffusion_core.cli import main

sys.exit(main())
