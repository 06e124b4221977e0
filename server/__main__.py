"""`python -m server ...` entry point (see server.cli)."""
import sys

from server.cli import main

sys.exit(main())
