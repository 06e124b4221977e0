"""One dispatcher for `python -m <package> <command> [args]`: a command is a module with main(argv)."""
from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence


def usage(prog: str, commands: Mapping[str, tuple[str, str]]) -> str:
    lines = [f"usage: {prog} <command> [args]   ({prog} <command> --help)", "", "commands:"]
    lines += [f"  {name:<17} {help_}" for name, (_, help_) in commands.items()]
    return "\n".join(lines)


def dispatch(prog: str, commands: Mapping[str, tuple[str, str]], argv: Sequence[str] | None = None) -> int:
    """Run `commands[argv[0]]` (command -> (module, help)); the module is imported only when its command
    runs, so one command's heavy dependencies never slow down another. Usage on stderr and 2 for an
    unknown or missing command, on stdout and 0 for -h / --help."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in commands:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(usage(prog, commands), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    module = importlib.import_module(commands[argv[0]][0])
    return module.main(argv[1:]) or 0
