#!/usr/bin/env bash
# Create (or reuse) the virtual environments, idempotently (each reinstalls only when its requirements change):
#   .venv     Python 3.11: the runtime and test dependencies, bpy 5.0.1 (requirements-dev.txt). Always.
# and with --blenders (scripts/test.sh), the other Blenders the add-on tests run in:
#   .venv313  Python 3.13: bpy 5.3.0, no pyzmq (requirements-blender313.txt): Blender 5.1+ (the py313 zip).
#   .venv42   Python 3.11: bpy 4.2.0, no pyzmq (requirements-blender42.txt): Blender 4.2 LTS.
# Those two are best effort: where one cannot be made, this says why and its tests are skipped with the reason.
# Interpreters: $PYTHON (3.11) and $PYTHON313, else python3.X on PATH, else ~/.pyenv/versions/3.X*.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {  # find_python 3.13 [CANDIDATE]: print the first interpreter that really is that version
    local candidate
    for candidate in ${2:+"$2"} "python$1" "$HOME"/.pyenv/versions/"$1".*/bin/python; do
        if "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$1')" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

requirements_sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

PY="$(find_python 3.11 "${PYTHON:-}" || command -v python3)"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want="$(requirements_sha requirements.txt requirements-dev.txt)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    .venv/bin/python -m pip install -q -r requirements-dev.txt
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
fi

blender_venv() {  # blender_venv DIR 3.13 REQUIREMENTS [PYTHON]: best effort, says why on failure
    local dir=$1 version=$2 requirements=$3 py want
    want="$(requirements_sha "$requirements")"
    [ "$(cat "$dir/.requirements.sha" 2>/dev/null || true)" = "$want" ] && return 0
    if ! py="$(find_python "$version" "${4:-}")"; then
        echo "setup_env: no Python $version found, so no $dir: its Blender tests will be skipped" >&2
        return 0
    fi
    echo "setup_env: creating $dir from $requirements with $py"
    [ -x "$dir/bin/python" ] || { "$py" -m venv "$dir" && echo '*' > "$dir/.gitignore"; }  # as venv does from 3.13
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -m pip install -q -r "$requirements"; then
        echo "$want" > "$dir/.requirements.sha"
    else
        echo "setup_env: could not install $requirements into $dir: its Blender tests will be skipped" >&2
    fi
}

if [ "${1:-}" = --blenders ]; then
    blender_venv .venv313 3.13 requirements-blender313.txt "${PYTHON313:-}"
    blender_venv .venv42 3.11 requirements-blender42.txt "$PY"
fi
