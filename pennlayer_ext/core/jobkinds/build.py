"""The build job: a new version of an environment layer from requirements (with uv)."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..states import LayerStatus
from .base import JobKind

if TYPE_CHECKING:
    from ..runner import JobContext
    from ..settings import NodeSettings

_PYTHON_RE = re.compile(r"3\.\d{1,2}(\.\d{1,3})?")


def check_python(python: object) -> str | None:
    """A Python version such as '3.11' or '3.12.1', None for the node's default; or raise."""
    if python is None or python == "":
        return None
    if not isinstance(python, str) or not _PYTHON_RE.fullmatch(python):
        raise InvalidInput(
            f"Unknown interpreter {python!r}: give a Python version such as '3.11' or '3.12.1'."
        )
    return python


class BuildJob(JobKind):
    name = "build"
    layer_kind = "environment"
    busy_status = LayerStatus.BUILDING
    verb = "built"

    @classmethod
    def params(
        cls, settings: NodeSettings, requirements: object, *, python: object, refresh: object
    ) -> dict[str, Any]:
        """Check a build request completely; the parameters its worker gets."""
        from ..requirements import parse_requirements

        parsed = parse_requirements(requirements, allowed=settings.allowed_requirement_kinds)
        return {
            "requirements": parsed.with_kernel_essentials().text,
            "python": check_python(python) or sys.executable,
            "refresh": bool(refresh),
            "allow_source_builds": settings.allow_source_builds,
            "uv_cache_dir": str(settings.uv_cache_dir),
            "kernelspec_dir": str(settings.kernelspec_dir) if settings.kernelspec_dir else None,
            "kernel_config": settings.kernel_config,
        }

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        from ..builder import run_build

        run_build(ctx)
