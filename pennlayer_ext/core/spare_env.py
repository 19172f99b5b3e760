"""The empty environment a spare worker prepares for a build while the node is idle.

``uv venv`` takes a twentieth of a second of every build (of a warm one, a sixth). A
spare worker (:mod:`.job_service`) makes it before its job comes, for the default
interpreter and the node's uv cache, in the store's spares folder; a build that asks for
the same takes it with one rename, any other job leaves it, and the worker removes what
is left when it exits (the jobs' recovery, what a killed spare left).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .jobs import SPARE_ENVIRONMENT_VARIABLE
from .runner import JobContext, StepFailed
from .settings import NodeSettings
from .store import LayerStore, remove_tree, write_atomically
from .uv_env import find_uv, uv_environment


def spare_prepares(settings: NodeSettings) -> dict[str, str]:
    """What a spare worker prepares while it waits: the empty environment a build with
    the default interpreter starts from (see :func:`prepare_spare_environment`)."""
    return {"python": sys.executable, "uv_cache_dir": str(settings.uv_cache_dir)}


def venv_command(uv: str, python: str, env_dir: Path) -> list[str | os.PathLike[str]]:
    return [uv, "venv", "--relocatable", "--no-project", "--python", python, env_dir]


def _made_for(python: str, cache_dir: str) -> dict[str, Any]:
    """What a prepared environment must have been made for to be used by a build: the
    interpreter, uv's cache and uv's settings in the environment."""
    uv_settings = {k: v for k, v in sorted(os.environ.items()) if k.startswith("UV_")}
    return {"python": python, "uv_cache_dir": cache_dir, "uv_settings": uv_settings}


def prepare_spare_environment(store: LayerStore, job_id: str) -> None:
    """In a spare worker, before its job comes: make the empty environment a build of
    the default interpreter starts with (``uv venv``, a twentieth of a second of every
    build) in the store's spares folder. The build takes it if the job is one and asks
    for the same interpreter and cache (:func:`take_spare_environment`); the worker removes
    it otherwise, and the jobs' recovery when the spare died."""
    wanted = os.environ.get(SPARE_ENVIRONMENT_VARIABLE)
    if not wanted:
        return
    folder = store.spare_dir(os.getpid(), job_id)
    try:
        prepares = json.loads(wanted)
        python, cache_dir = str(prepares["python"]), str(prepares["uv_cache_dir"])
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True)
        made = subprocess.run(
            venv_command(find_uv(), python, folder / "env"),
            env=uv_environment(cache_dir),
            capture_output=True,
            check=False,
        )
        if made.returncode == 0:
            write_atomically(folder / "made-for.json", json.dumps(_made_for(python, cache_dir)))
    except (OSError, ValueError, KeyError, TypeError, StepFailed):
        pass  # only a head start (uv missing, a full disk): the build makes its own
    if not (folder / "made-for.json").exists():
        remove_tree(folder)


def take_spare_environment(ctx: JobContext, env_dir: Path) -> bool:
    """Move the environment this worker prepared while it was a spare to *env_dir*, if
    there is one and it suits the build; False if not (the build makes its own)."""
    folder = ctx.store.spare_dir(os.getpid(), ctx.job_id)
    try:
        made = json.loads((folder / "made-for.json").read_text(encoding="utf-8"))
        if made != _made_for(ctx.params["python"], ctx.params["uv_cache_dir"]):
            return False
        os.rename(folder / "env", env_dir)
    except (OSError, ValueError):
        return False
    remove_tree(folder)
    return True
