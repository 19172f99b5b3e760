"""Environment builds: pennlayer (uv, shared cache, hard links) vs python -m venv + pip.

The same requirements are built four times in one run: by pennlayer and by venv + pip,
each cold (empty caches) and warm (a second environment after the first). Prints the
times, the ratios, and the disk a second environment with the same stack costs.

    python bench/build_env.py [--requirements FILE] [--workdir DIR]

pip is given ipykernel too, since pennlayer adds it to every environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pennlayer_ext.core import LayerManager

DEFAULT_REQUIREMENTS = "numpy\npandas\nscipy\nscikit-learn\n"


def unique_bytes(*roots: Path) -> int:
    """Bytes on disk under *roots* together, each inode counted once (like one `du`)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                info = os.lstat(os.path.join(dirpath, name))
                key = (info.st_dev, info.st_ino)
                if key not in seen:
                    seen.add(key)
                    total += info.st_blocks * 512
    return total


def pennlayer_build(manager: LayerManager, name: str, requirements: str) -> float:
    manager.create_layer(name, "environment")
    started = time.perf_counter()
    job = manager.start_build(name, requirements)
    while job["state"] in ("queued", "running"):
        time.sleep(0.05)
        manager.reap_workers()
        job = manager.get_job(job["id"])
    elapsed = time.perf_counter() - started
    if job["state"] != "succeeded":
        sys.exit(f"pennlayer build of {name} {job['state']}: {job['error']}")
    return elapsed


def pip_build(target: Path, requirements_file: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, env=env)
    result = subprocess.run(
        [str(target / "bin" / "pip"), "install", "-q", "-r", str(requirements_file), "ipykernel"],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        sys.exit(f"pip failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def mb(size: int) -> str:
    return f"{size / 1000**2:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", help="a requirements.txt (default: the data stack)")
    parser.add_argument("--workdir", help="where to build (default: a temporary folder)")
    args = parser.parse_args()
    requirements = (
        Path(args.requirements).read_text() if args.requirements else DEFAULT_REQUIREMENTS
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pennlayer-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    requirements_file = workdir / "requirements.txt"
    requirements_file.write_text(requirements)
    print(f"requirements: {', '.join(requirements.split())} (+ ipykernel)")
    print(f"working in {workdir}\n")

    # pennlayer: a fresh store, so its uv cache starts empty (cold), then a second one.
    store = workdir / "store"
    manager = LayerManager(store)
    pl_cold = pennlayer_build(manager, "bench-first", requirements)
    first_bytes = unique_bytes(store / "layers")
    pl_warm = pennlayer_build(manager, "bench-second", requirements)
    both_bytes = unique_bytes(store / "layers")
    pl_extra = both_bytes - first_bytes

    # venv + pip: a fresh pip cache (cold), then a second environment using it (warm).
    pip_env = dict(os.environ, PIP_CACHE_DIR=str(workdir / "pip-cache"))
    pip_cold = pip_build(workdir / "venv-first", requirements_file, pip_env)
    pip_first_bytes = unique_bytes(workdir / "venv-first")
    pip_warm = pip_build(workdir / "venv-second", requirements_file, pip_env)
    pip_both = unique_bytes(workdir / "venv-first", workdir / "venv-second")
    pip_extra = pip_both - pip_first_bytes

    rows = [
        ("cold build (empty caches)", pip_cold, pl_cold),
        ("warm build (second env)", pip_warm, pl_warm),
    ]
    print(f"{'':28}{'venv + pip':>12}{'pennlayer':>12}{'speed-up':>10}")
    for label, pip_s, pl_s in rows:
        print(f"{label:28}{pip_s:>11.1f}s{pl_s:>11.1f}s{pip_s / pl_s:>9.1f}x")
    print()
    print(f"{'first environment on disk':28}{mb(pip_first_bytes):>12}{mb(first_bytes):>12}")
    print(f"{'second environment extra':28}{mb(pip_extra):>12}{mb(pl_extra):>12}")
    print(
        f"{'extra / first':28}{pip_extra / pip_first_bytes:>11.1%} {pl_extra / first_bytes:>10.1%}"
    )
    print(
        f"\nuv cache (shared by every environment of the node): {mb(unique_bytes(store / 'cache'))}"
    )
    print(
        f"targets: warm build >= 20x faster than venv + pip -> {pip_warm / pl_warm:.1f}x; "
        f"second environment < 5% of the first on disk -> {pl_extra / first_bytes:.1%}"
    )
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
