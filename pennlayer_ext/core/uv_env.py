"""uv as every job runs it: the executable, and its environment (its cache, hard links,
no interpreter downloads, no progress bars)."""

from __future__ import annotations

import os
import shutil

from .runner import StepFailed


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


def uv_settings(cache_dir: str) -> dict[str, str]:
    return {
        "UV_CACHE_DIR": cache_dir,
        "UV_LINK_MODE": "hardlink",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        "NO_COLOR": "1",
    }


def uv_environment(cache_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(uv_settings(cache_dir))
    env.pop("VIRTUAL_ENV", None)
    return env
