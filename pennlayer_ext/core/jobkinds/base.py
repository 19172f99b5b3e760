"""What every job kind is: the request side (checks, parameters) and the worker side (run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..states import LayerStatus

if TYPE_CHECKING:
    from ..runner import JobContext


class JobKind:
    """One kind of job. Subclasses live in their own module and are listed in JOB_KINDS."""

    name: ClassVar[str]
    layer_kind: ClassVar[str]  # the kind of layer this job works on
    busy_status: ClassVar[LayerStatus]  # the layer's status while the job runs
    verb: ClassVar[str]  # "built", "populated": for messages

    @classmethod
    def needed_bytes(cls, params: dict[str, Any]) -> int:
        """Disk space the job is known to need before it starts (0: unknown)."""
        return int(params.get("estimated_bytes") or 0)

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        """Do the job in its worker process; end by committing a version or raising."""
        raise NotImplementedError

    @classmethod
    def describe(cls, params: dict[str, Any]) -> str:
        """One line for the job log's first entry."""
        return cls.name
