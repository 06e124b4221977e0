"""Build the installable Blender extension zips for the Voxel Diffusion add-on, one per embedded Python.

    python build_addon.py                    # one zip per build target (all platforms each)
    python build_addon.py --split-platforms  # plus one zip per target and platform with only its wheel

Blender 4.2 to 5.0 embed CPython 3.11 and Blender 5.1 and later CPython 3.13, and Blender installs
compiled wheels only for the Python they were built for, so one source tree gives one zip per
`BuildTarget` (`BUILD_TARGETS`): its Blender range, its Python and its pyzmq wheels. Steps: check the
pinned wheels in blender_addon/wheels/ (committed, so builds and tests run offline; a missing one is
fetched with pip download), verify their sha256, refuse a target whose Blender range includes a
Blender whose Python its wheels do not load on, write each target's manifest from the repository's
blender_manifest.toml (version bounds, platforms and wheel list substituted), validate it, then write
zips reproducibly: sorted entries, fixed timestamps and permissions, no __pycache__, manifest at the
zip root (the layout Blender 4.2+ installs from). The same sources give byte-identical zips.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "blender_addon"
WHEEL_DIR = ADDON_DIR / "wheels"
MANIFEST = ADDON_DIR / "blender_manifest.toml"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
PLATFORMS = ("windows-x64", "windows-arm64", "macos-arm64", "macos-x64", "linux-x64")
PYZMQ = "pyzmq==27.3.0"

# The CPython each Blender series embeds: (first Blender, first Blender after it, Python). From the
# release notes; 5.1.2, 5.2.3 and 5.3.0 checked (bpy from PyPI needs 3.13 since 5.1). Later 5.x are
# assumed to stay on 3.13; a build may only claim Blenders this table covers.
BLENDER_PYTHONS = (
    ((4, 2, 0), (5, 1, 0), "3.11"),
    ((5, 1, 0), (6, 0, 0), "3.13"),
)


def version_tuple(text: str) -> tuple[int, ...]:
    """'5.1.0' -> (5, 1, 0)."""
    return tuple(int(part) for part in text.split("."))


def version_text(version: tuple[int, ...]) -> str:
    """(5, 1, 0) -> '5.1.0'."""
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel: the Blender platforms it serves, the pip --platform tag that selects it, its
    file name and sha256."""

    platforms: tuple[str, ...]
    pip_platform: str
    filename: str
    sha256: str

    @property
    def python_tag(self) -> str:
        return self.filename.split("-")[-3]

    @property
    def abi_tag(self) -> str:
        return self.filename.split("-")[-2]

    def loads_on(self, python: str) -> bool:
        """Whether CPython `python` ("3.13") can import it: a cpXY ABI only X.Y, the stable ABI
        (abi3) the python tag's version and every later 3.x."""
        match = re.fullmatch(r"cp3(\d+)", self.python_tag)
        minor = int(python.split(".")[1])
        if match is None:
            return False
        if self.abi_tag == "abi3":
            return minor >= int(match.group(1))
        return self.abi_tag == self.python_tag and minor == int(match.group(1))


@dataclass(frozen=True)
class BuildTarget:
    """One zip (per platform with --split-platforms): the Blenders it installs in, the Python they
    embed and the wheels for it. `blender_max` is exclusive, like the manifest's blender_version_max,
    and `bound_reason` says why it is there (written into the manifest)."""

    name: str  # in the zip name: tells a user which zip is theirs
    python: str
    blender_min: str
    blender_max: str
    bound_reason: str
    wheels: tuple[Wheel, ...]


def _pyzmq_wheels(tag: str, hashes: dict[str, str]) -> tuple[Wheel, ...]:
    """pyzmq 27.3.0's wheels for one python-abi `tag`, keyed by the platform part of the name."""
    platforms = {  # wheel platform -> (Blender platforms, pip --platform)
        "win_amd64": (("windows-x64",), "win_amd64"),
        "win_arm64": (("windows-arm64",), "win_arm64"),
        "macosx_10_15_universal2": (("macos-arm64", "macos-x64"), "macosx_11_0_arm64"),
        "manylinux_2_26_x86_64.manylinux_2_28_x86_64": (("linux-x64",), "manylinux_2_28_x86_64"),
    }
    return tuple(Wheel(*platforms[plat], f"pyzmq-27.3.0-{tag}-{plat}.whl", digest) for plat, digest in hashes.items())


BUILD_TARGETS = (
    BuildTarget(
        "blender4.2-5.0-py311", "3.11", "4.2.0", "5.1.0",
        "Exclusive bound. These pyzmq wheels are built for CPython 3.11 only (cp311), the Python of "
        "Blender 4.2 to 5.0; Blender 5.1 and later embed 3.13: use the -py313 zip there.",
        _pyzmq_wheels("cp311-cp311", {
            "win_amd64": "df98c790f86b6aa2378b4bb94dec7b85b0adb195b880b41e429a4990aed2a8c9",
            "win_arm64": "652d68fb398e714540d8a577cef81c548c61394c721bc1b996b5a4028e89f73d",
            "macosx_10_15_universal2": "86fb4408797aabb54a31e147176ae0f2474d99f1715a36a4564089eca9ef9ce8",
            "manylinux_2_26_x86_64.manylinux_2_28_x86_64":
                "477b8ad30d66fc905c5388351e83b9ac25824b00e82c0d052b72ea6392636dfd",
        })),
    BuildTarget(
        "blender5.1-5.x-py313", "3.13", "5.1.0", "6.0.0",
        "Exclusive bound. These pyzmq wheels use the stable ABI (cp312-abi3): they load on CPython 3.12 "
        "and later, so every Blender 5.x from 5.1 installs this zip (5.1, 5.2 and 5.3 embed 3.13; "
        "tested on 5.3.0); 6.0 is the next major release, which may break add-on APIs.",
        _pyzmq_wheels("cp312-abi3", {
            "win_amd64": "3ea8e8fa5c097e68fef91d70b150fda96f307758103868018fc4deeb9c214122",
            "win_arm64": "2187a5ca80691a5edb30690f02d9fb714e2c32d3dfdeb652e159ff5da2dd4283",
            "macosx_10_15_universal2": "15155fd8f308d3bd47f67a8f6cc809f9db90abbf63c514c384a17622e2cf080f",
            "manylinux_2_26_x86_64.manylinux_2_28_x86_64":
                "858fe25231e0fd8612da142efde019faa5ef63fa150a821a27870e791b38c798",
        })),
)

REQUIRED_KEYS = {
    "schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
    "type": str, "blender_version_min": str, "license": list,
}
TARGET_KEYS = ("blender_version_max", "wheels")  # written per target, never in the repository's manifest
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class BuildError(Exception):
    """The manifest, the wheels or a build target are not fit to ship."""


def sha256_of(path: Path) -> str:
    """The file's sha256, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def target_for_blender(version: tuple[int, ...], targets: tuple[BuildTarget, ...] = BUILD_TARGETS) -> BuildTarget:
    """The build target whose zip installs in Blender `version`."""
    for target in targets:
        if version_tuple(target.blender_min) <= version < version_tuple(target.blender_max):
            return target
    raise BuildError(f"no build target covers Blender {version_text(version)}")


def check_target(target: BuildTarget) -> None:
    """Refuse a target whose Blender range includes a Blender its wheels cannot serve: one outside the
    known Blender -> Python table, one whose Python a wheel does not load on, a platform without a wheel,
    or a mix of version-specific and stable-ABI wheels (Blender reads cp311 + abi3 as 3.11 only)."""
    low, high = version_tuple(target.blender_min), version_tuple(target.blender_max)
    where = f"build target {target.name} (Blender {target.blender_min} to {target.blender_max}, exclusive)"
    if not low < high:
        raise BuildError(f"refusing {where}: blender_min must be below blender_max")
    known_low, known_high = BLENDER_PYTHONS[0][0], BLENDER_PYTHONS[-1][1]
    if low < known_low or high > known_high:
        known = f"{version_text(known_low)} to {version_text(known_high)}"
        raise BuildError(f"refusing {where}: only Blender {known} (exclusive) "
                         f"have a known Python (BLENDER_PYTHONS); narrow the range or extend the table")
    problems = []
    for first, after, python in BLENDER_PYTHONS:
        if first < high and low < after:  # this series overlaps the target's range
            series = f"Blender {version_text(max(first, low))} to {version_text(min(after, high))} (exclusive)"
            if bad := [w.filename for w in target.wheels if not w.loads_on(python)]:
                problems.append(f"it includes {series}, which embeds Python {python}, and these wheels "
                                f"do not load on Python {python}: {', '.join(bad)}")
            elif python != target.python:
                problems.append(f"it includes {series}, which embeds Python {python}, not {target.python}")
    if len({w.abi_tag == "abi3" for w in target.wheels}) > 1:
        problems.append("it mixes version-specific and stable-ABI (abi3) wheels, which Blender reads as "
                        "the version-specific Python only")
    served = sorted(p for w in target.wheels for p in w.platforms)
    if served != sorted(PLATFORMS):
        problems.append(f"its wheels serve {served}, not each of {sorted(PLATFORMS)} once")
    if problems:
        raise BuildError(f"refusing {where}: " + "; ".join(problems)
                         + ". Narrow the Blender range or give it wheels for those Pythons.")


def ensure_wheels(target: BuildTarget, wheel_dir: Path = WHEEL_DIR) -> list[Path]:
    """Download the target's missing pinned wheels into `wheel_dir` and check every wheel's sha256."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for wheel in target.wheels:
        path = wheel_dir / wheel.filename
        if not path.exists():
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
                     "--platform", wheel.pip_platform, "--python-version", target.python, "--dest", tmp, PYZMQ],
                    check=True,
                )
                fetched = Path(tmp) / wheel.filename
                if not fetched.exists():
                    raise BuildError(f"pip did not produce {wheel.filename}: got {sorted(p.name for p in Path(tmp).iterdir())}")
                fetched.replace(path)
        if (digest := sha256_of(path)) != wheel.sha256:
            raise BuildError(f"{path} has sha256 {digest}, expected {wheel.sha256}: delete it and rebuild")
        paths.append(path)
    return paths


def target_manifest(template: str, target: BuildTarget, platforms: tuple[str, ...] = PLATFORMS) -> str:
    """The repository manifest with the target's Blender bounds (and why, in place of the template's
    comment above blender_version_min), `platforms` and the wheels serving them written in."""
    for key in TARGET_KEYS:
        if re.search(rf"(?m)^{key}\s*=", template):
            raise BuildError(f"{MANIFEST.name} must not set {key}: build_addon.py writes it per build target")
    reason = "".join(f"# {line}\n" for line in textwrap.wrap(target.bound_reason, 98))
    bounds = (f'blender_version_min = "{target.blender_min}"\n{reason}'
              f'blender_version_max = "{target.blender_max}"')
    wheels = sorted(w.filename for w in target.wheels if set(w.platforms) & set(platforms))
    listing = "".join(f'  "./wheels/{name}",\n' for name in wheels)
    lists = (f"platforms = {json.dumps(list(platforms))}\n"
             f"# pyzmq for Python {target.python}, pinned by sha256 in build_addon.py.\nwheels = [\n{listing}]")
    text, found_min = re.subn(r"(?m)(^#.*\n)*^blender_version_min = .*$", lambda _: bounds, template)
    text, found_platforms = re.subn(r"(?ms)^platforms = \[.*?\]", lambda _: lists, text)
    if found_min != 1 or found_platforms != 1:
        raise BuildError(f"{MANIFEST.name} must set blender_version_min and platforms once each")
    return text


def validate_manifest(text: str, wheel_root: Path = ADDON_DIR) -> dict:
    """Parse and check a manifest; raise BuildError listing every problem. `wheel_root`: where its
    ./wheels/ paths are. Returns the parsed dict."""
    manifest = tomllib.loads(text)
    problems = []
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            problems.append(f"'{key}' is required and must be a {kind.__name__}")
    if problems:
        raise BuildError("; ".join(problems))
    if manifest["schema_version"] != "1.0.0":
        problems.append("schema_version must be \"1.0.0\"")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", manifest["id"]):
        problems.append("id must be a lower-case Python identifier")
    for key in ("version", "blender_version_min", "blender_version_max"):
        if key in manifest and not SEMVER.match(str(manifest[key])):
            problems.append(f"{key} must look like 1.2.3, got {manifest[key]!r}")
    if manifest["type"] != "add-on":
        problems.append("type must be \"add-on\"")
    tagline = manifest["tagline"]
    if not 0 < len(tagline) <= 64 or tagline.endswith((".", "!", "?")):
        problems.append("tagline must be 1-64 characters without trailing punctuation")
    if not manifest["license"] or not all(isinstance(x, str) and x.startswith("SPDX:") for x in manifest["license"]):
        problems.append("license must be a non-empty list of \"SPDX:...\" identifiers")
    network = manifest.get("permissions", {}).get("network")
    if not isinstance(network, str) or not network.strip():
        problems.append("[permissions] network must give the reason the add-on uses the network")
    if unknown := set(manifest.get("platforms", [])) - set(PLATFORMS):
        problems.append(f"unknown platforms {sorted(unknown)}: known are {list(PLATFORMS)}")
    for entry in manifest.get("wheels", []):
        if not entry.startswith("./wheels/") or "\\" in entry:
            problems.append(f"wheel {entry!r} must be a ./wheels/ path with forward slashes")
        elif not (wheel_root / entry).is_file():
            problems.append(f"wheel {entry!r} is listed but missing (run build_addon.py online once)")
    if problems:
        raise BuildError("; ".join(problems))
    return manifest


def addon_files(wheel_names: set[str]) -> list[tuple[str, Path]]:
    """(archive name, source path) of every file to ship, sorted; wheels limited to `wheel_names`."""
    files = []
    for path in ADDON_DIR.rglob("*"):
        rel = path.relative_to(ADDON_DIR)
        if not path.is_file() or EXCLUDED_DIRS & set(rel.parts) or path.suffix in EXCLUDED_SUFFIXES:
            continue
        if rel.parts[0] == "wheels" and rel.name not in wheel_names:
            continue
        files.append((rel.as_posix(), path))
    return sorted(files)


def write_zip(out: Path, files: list[tuple[str, Path]], manifest_text: str) -> Path:
    """Write a reproducible zip: fixed timestamps and modes, sorted names, manifest text given."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = manifest_text.encode() if name == MANIFEST.name else path.read_bytes()
            zf.writestr(info, data)
    return out


def build_target(target: BuildTarget, out_dir: Path, split_platforms: bool = False, fetch: bool = True) -> list[Path]:
    """Check the target, fetch its wheels (if `fetch`), write and validate its manifest(s), write its
    zip (and one per platform with `split_platforms`). Returns the zip paths."""
    check_target(target)
    if fetch:
        ensure_wheels(target)
    template = MANIFEST.read_text(encoding="utf-8")
    variants = [((), PLATFORMS)] + [((p,), (p,)) for p in PLATFORMS if split_platforms]
    outputs = []
    for suffix, platforms in variants:
        text = target_manifest(template, target, platforms)
        manifest = validate_manifest(text)
        stem = "-".join((manifest["id"], manifest["version"], target.name, *(p.replace("-", "_") for p in suffix)))
        wheels = {Path(w).name for w in manifest["wheels"]}
        outputs.append(write_zip(out_dir / f"{stem}.zip", addon_files(wheels), text))
    return outputs


def build(out_dir: Path = ROOT / "dist", split_platforms: bool = False, fetch: bool = True,
          targets: tuple[BuildTarget, ...] = BUILD_TARGETS) -> list[Path]:
    """Build every target (all are checked before any zip is written). Returns the zip paths."""
    for target in targets:
        check_target(target)
    return [path for target in targets for path in build_target(target, out_dir, split_platforms, fetch)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--split-platforms", action="store_true", help="also write one zip per platform")
    parser.add_argument("--offline", action="store_true", help="never download wheels (fail if missing)")
    args = parser.parse_args(argv)
    try:
        outputs = build(args.out, args.split_platforms, fetch=not args.offline, targets=BUILD_TARGETS)
    except (BuildError, subprocess.CalledProcessError) as e:
        print(f"build_addon: {e}", file=sys.stderr)
        return 1
    for path in outputs:
        print(f"{path}  {path.stat().st_size} bytes  sha256:{sha256_of(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
