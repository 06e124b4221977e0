"""Build the installable Blender extension zip(s) for the Voxel Diffusion add-on.

    python build_addon.py                    # dist/voxel_diffusion-<version>.zip (all platforms)
    python build_addon.py --split-platforms  # plus one zip per platform with only its wheel

Steps: check the pinned pyzmq wheels in blender_addon/wheels/ (committed, so builds and tests run
offline; a missing one is fetched with pip download), verify their sha256, validate blender_manifest.toml, then write
zips reproducibly: sorted entries, fixed timestamps and permissions, no __pycache__, manifest at the
zip root (the layout Blender 4.2+ installs from). The same sources give byte-identical zips.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "blender_addon"
MANIFEST = ADDON_DIR / "blender_manifest.toml"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
PYTHON_VERSION = "3.11"  # Blender 4.2 - 5.0


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel: the pip --platform tag that selects it, its file name and sha256."""

    platforms: tuple[str, ...]  # Blender platform ids it serves
    pip_platform: str
    filename: str
    sha256: str


PYZMQ = "pyzmq==27.3.0"
WHEELS = (
    Wheel(("windows-x64",), "win_amd64", "pyzmq-27.3.0-cp311-cp311-win_amd64.whl",
          "df98c790f86b6aa2378b4bb94dec7b85b0adb195b880b41e429a4990aed2a8c9"),
    Wheel(("macos-arm64", "macos-x64"), "macosx_11_0_arm64", "pyzmq-27.3.0-cp311-cp311-macosx_10_15_universal2.whl",
          "86fb4408797aabb54a31e147176ae0f2474d99f1715a36a4564089eca9ef9ce8"),
    Wheel(("linux-x64",), "manylinux_2_28_x86_64",
          "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
          "477b8ad30d66fc905c5388351e83b9ac25824b00e82c0d052b72ea6392636dfd"),
)
PLATFORMS = ("windows-x64", "macos-arm64", "macos-x64", "linux-x64")

REQUIRED_KEYS = {
    "schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
    "type": str, "blender_version_min": str, "license": list,
}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class BuildError(Exception):
    """The manifest or the wheels are not fit to ship."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_wheels(wheel_dir: Path = ADDON_DIR / "wheels") -> list[Path]:
    """Download missing pinned wheels into `wheel_dir` and check every wheel's sha256."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for wheel in WHEELS:
        path = wheel_dir / wheel.filename
        if not path.exists():
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
                     "--platform", wheel.pip_platform, "--python-version", PYTHON_VERSION, "--dest", tmp, PYZMQ],
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


def validate_manifest(path: Path = MANIFEST) -> dict:
    """Parse and check the manifest; raise BuildError listing every problem. Returns the parsed dict."""
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
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
    if sorted(manifest.get("platforms", [])) != sorted(PLATFORMS):
        problems.append(f"platforms must be {list(PLATFORMS)}")
    listed = manifest.get("wheels", [])
    for entry in listed:
        if not entry.startswith("./wheels/") or "\\" in entry:
            problems.append(f"wheel {entry!r} must be a ./wheels/ path with forward slashes")
        elif not (path.parent / entry).is_file():
            problems.append(f"wheel {entry!r} is listed but missing (run build_addon.py online once)")
    if sorted(Path(e).name for e in listed) != sorted(w.filename for w in WHEELS):
        problems.append(f"wheels must list exactly {[w.filename for w in WHEELS]}")
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


def platform_manifest(text: str, platform: str, wheel: Wheel) -> str:
    """The manifest text restricted to one platform and its wheel."""
    text = re.sub(r"(?m)^platforms = \[.*\]$", f'platforms = ["{platform}"]', text)
    return re.sub(r"(?ms)^wheels = \[.*?^\]", f'wheels = [\n  "./wheels/{wheel.filename}",\n]', text)


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


def build(out_dir: Path = ROOT / "dist", split_platforms: bool = False, fetch: bool = True) -> list[Path]:
    """Fetch wheels (if `fetch`), validate, write the zip(s). Returns the zip paths."""
    if fetch:
        ensure_wheels()
    manifest = validate_manifest()
    text = MANIFEST.read_text(encoding="utf-8")
    stem = f"{manifest['id']}-{manifest['version']}"
    outputs = [write_zip(out_dir / f"{stem}.zip", addon_files({w.filename for w in WHEELS}), text)]
    if split_platforms:
        for wheel in WHEELS:
            for platform in wheel.platforms:
                outputs.append(write_zip(
                    out_dir / f"{stem}-{platform.replace('-', '_')}.zip",
                    addon_files({wheel.filename}),
                    platform_manifest(text, platform, wheel),
                ))
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--split-platforms", action="store_true", help="also write one zip per platform")
    parser.add_argument("--offline", action="store_true", help="never download wheels (fail if missing)")
    args = parser.parse_args(argv)
    try:
        outputs = build(args.out, args.split_platforms, fetch=not args.offline)
    except (BuildError, subprocess.CalledProcessError) as e:
        print(f"build_addon: {e}", file=sys.stderr)
        return 1
    for path in outputs:
        print(f"{path}  {path.stat().st_size} bytes  sha256:{sha256_of(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
