"""Environment builds with uv: ``uv venv`` + ``uv pip install`` into a staged folder.

The uv cache lives in the store (same filesystem), and packages are hard-linked from it,
so a second environment with the same stack costs almost no extra disk.

No package code runs next to the store. Installs take wheels only (``--no-build``):
unpacking a wheel runs none of its code. A requirement that has only a source
distribution fails the build, with a message naming it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from .digest import summarize_tree
from .runner import JobContext, StepFailed
from .versions import seal_tree

STEPS = 5
SOURCE_BUILDS_OFF = "source builds are off on this node (PennLayerApp.allow_source_builds)"
# How uv names a requirement that needs a source build while builds are off (--no-build).
_NO_WHEEL = re.compile(
    r"Wheels are required for `([^`]+)`|Building source distributions for `([^`]+)`"
    r"|Because ([A-Za-z0-9._-]+)\S* has no usable wheels"
)


def find_uv() -> str:
    """The uv executable: the one installed with the ``uv`` Python package, else PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise StepFailed("uv is not installed; install the 'uv' Python package") from None
        return found


def uv_environment(cache_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "UV_CACHE_DIR": cache_dir,
            "UV_LINK_MODE": "hardlink",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def missing_wheels(log_text: str) -> list[str]:
    """The requirements uv could not install because they need a source build."""
    names: list[str] = []
    for match in _NO_WHEEL.finditer(log_text):
        name = next(group for group in match.groups() if group)
        if name not in names:
            names.append(name)
    return names


def _last_step_output(ctx: JobContext) -> str:
    """What the tools wrote to the job log since the builder's last message."""
    try:
        with ctx.store.job_log_path(ctx.job_id).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.rpartition("\n==> ")[2]


def no_wheel_message(names: Sequence[str], reason: str = SOURCE_BUILDS_OFF) -> str:
    verb = "has" if len(names) == 1 else "have"
    return f"{', '.join(names)} {verb} no wheel for this interpreter; {reason}"


def python_version_of(env_dir: Path) -> str | None:
    """The interpreter version recorded in a virtual environment's pyvenv.cfg."""
    try:
        for line in (env_dir / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in {"version_info", "version"}:
                return value.strip()
    except OSError:
        return None
    return None


def run_build(ctx: JobContext) -> None:
    params = ctx.params
    uv = find_uv()
    env = uv_environment(params["uv_cache_dir"])
    Path(params["uv_cache_dir"]).mkdir(parents=True, exist_ok=True)
    env_dir = ctx.staging / "env"
    python_bin = env_dir / "bin" / "python"
    requirements_file = ctx.staging / "requirements.txt"
    requirements_file.write_text(params["requirements"], encoding="utf-8")

    ctx.progress("venv", 1, STEPS, f"Creating the environment (Python {params['python']})")
    ctx.run(
        [uv, "venv", "--relocatable", "--no-project", "--python", params["python"], env_dir],
        env=env,
        what="Creating the environment",
    )

    install: list[str | os.PathLike[str]] = [
        uv,
        "pip",
        "install",
        "--python",
        python_bin,
        "-r",
        requirements_file,
        "--no-build",
    ]
    installed = False
    if not params.get("refresh"):
        # Offline first: when the node's cache can satisfy the requirements, nothing is
        # fetched and the build takes a fraction of a second. Otherwise resolve online.
        ctx.progress("install", 2, STEPS, "Installing packages from the node's cache")
        try:
            ctx.run([*install, "--offline"], env=env, what="Installing from the cache")
            installed = True
        except StepFailed:
            ctx.log("Not everything is in the node's cache: resolving against the index")
    if not installed:
        ctx.progress("install", 2, STEPS, "Resolving and installing packages")
        refresh = ["--refresh"] if params.get("refresh") else []
        try:
            ctx.run([*install, *refresh], env=env, what="Installing the requirements")
        except StepFailed:
            needs_source = missing_wheels(_last_step_output(ctx))
            if not needs_source:
                raise
            raise StepFailed(no_wheel_message(needs_source)) from None

    ctx.progress("lock", 3, STEPS, "Recording the exact packages")
    lock = ctx.run(
        [uv, "pip", "freeze", "--python", python_bin],
        env=env,
        capture=True,
        what="Listing the installed packages",
    )
    listed = ctx.run(
        [uv, "pip", "list", "--format", "json", "--python", python_bin],
        env=env,
        capture=True,
        what="Listing the installed packages",
    )
    packages = sorted(
        ({"name": item["name"], "version": item["version"]} for item in json.loads(listed)),
        key=lambda item: item["name"].lower(),
    )
    interpreter = python_version_of(env_dir)

    ctx.progress("digest", 4, STEPS, "Computing the digest, size and file count")
    seal_tree(env_dir)  # before the digest: modes are part of it
    summary = summarize_tree(env_dir, hash_cache=ctx.store.hash_cache_path)

    ctx.progress("commit", 5, STEPS, "Making the new version current")
    version = ctx.commit_version(
        env_dir,
        summary,
        layer_fields={"interpreter": interpreter, "requirements": params["requirements"]},
        version_fields={"interpreter": interpreter, "lock": lock, "packages": packages},
    )
    ctx.log(
        f"version {version}: {len(packages)} packages, {summary.file_count} files, {summary.digest}"
    )
