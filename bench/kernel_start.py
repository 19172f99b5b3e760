"""Kernel start: a pennlayer kernel (environment + two reference layers, sandboxed) vs a
plain ipykernel kernelspec running the same interpreter and packages.

Measures launch to kernel_info reply, alternating the two kinds, and prints the medians
and the overhead.

    python bench/kernel_start.py [--runs 10] [--sandbox docker --docker-image IMAGE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.sandbox import resolve_backend
from pennlayer_ext.tests.helpers import add_reference_version


async def time_start(name: str, ksm: KernelSpecManager, cwd: Path, env: dict[str, str]) -> float:
    km = AsyncKernelManager(kernel_name=name, kernel_spec_manager=ksm)
    started = time.perf_counter()
    await km.start_kernel(cwd=str(cwd), env=env)
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        return time.perf_counter() - started
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


def build_store(root: Path, kernel_config: dict[str, str]) -> LayerManager:
    manager = LayerManager(
        root / "store", kernelspec_dir=root / "kernels", kernel_config=kernel_config
    )
    manager.create_layer("bench-env", "environment")
    job = manager.start_build("bench-env", "six\n")
    while job["state"] in ("queued", "running"):
        time.sleep(0.05)
        job = manager.get_job(job["id"])
    if job["state"] != "succeeded":
        sys.exit(f"building the environment failed: {job['error']}")
    manager.wait_for_workers()
    for name in ("bench-genome", "bench-model"):
        manager.create_layer(name, "reference")
        files = {f"part-{i}.txt": "ACGT" * 1000 for i in range(50)}
        add_reference_version(manager, name, files)
    manager.sync_kernelspecs()
    return manager


def add_plain_kernelspec(root: Path, manager: LayerManager) -> None:
    env_dir = manager.store.version_dir("bench-env", manager.get_layer("bench-env")["version"])
    spec_dir = root / "kernels" / "plain-same-packages"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [
            str(env_dir / "bin" / "python"),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "plain",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sandbox", default="auto", help="PennLayerApp.sandbox (default auto)")
    parser.add_argument("--docker-image", default="", help="PennLayerApp.kernel_docker_image")
    args = parser.parse_args()
    kernel_config = {"sandbox": args.sandbox, "kernel_docker_image": args.docker_image}
    with tempfile.TemporaryDirectory(prefix="pennlayer-bench-") as tmp:
        root = Path(tmp)
        manager = build_store(root, kernel_config)
        add_plain_kernelspec(root, manager)
        ksm = KernelSpecManager(kernel_dirs=[str(root / "kernels")])
        work = root / "work"
        work.mkdir()
        env = dict(os.environ, PENNLAYER_LAYERS="bench-genome,bench-model")
        backend, why = resolve_backend(args.sandbox, kernel_config)
        print(f"sandbox: {backend} ({why}); {args.runs} starts of each, alternating")
        print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}\n")
        plain, pennlayer = [], []
        await time_start("plain-same-packages", ksm, work, env)  # warm the page cache
        await time_start("pennlayer-bench-env", ksm, work, env)
        for _ in range(args.runs):
            plain.append(await time_start("plain-same-packages", ksm, work, env))
            pennlayer.append(await time_start("pennlayer-bench-env", ksm, work, env))
        p, q = statistics.median(plain), statistics.median(pennlayer)
        print(f"{'':44}{'median':>9}{'min':>9}{'max':>9}")
        print(f"{'plain ipykernel kernelspec':44}{p:>8.3f}s{min(plain):>8.3f}s{max(plain):>8.3f}s")
        label = f"pennlayer (env + 2 layers, {backend.name})"
        print(f"{label:44}{q:>8.3f}s{min(pennlayer):>8.3f}s{max(pennlayer):>8.3f}s")
        print(f"\noverhead: {q / p - 1:+.1%} (target: at most +3%)")
        # Other work on the machine only adds time: the fastest starts compare the kernels.
        print(f"overhead of the fastest starts: {min(pennlayer) / min(plain) - 1:+.1%}")
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
        leftover = manager.list_sessions(active=True)
        if leftover:
            sys.exit(f"sessions left open: {leftover}")


if __name__ == "__main__":
    asyncio.run(main())
