"""What every job kind is: the request side (checks, parameters) and the worker side (run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..states import LayerStatus

if TYPE_CHECKING:
    from ..runner import JobContext


class JobKind:
    """One kind of job. Subclasses live in their own module and are listed in JOB_KINDS."""

    name: ClassVar[str]
    layer_kind: ClassVar[str | None]  # the kind of layer this job works on (None: any)
    busy_status: ClassVar[LayerStatus]  # the layer's status while the job runs
    verb: ClassVar[str]  # "built", "populated": for messages
    # Whether the job needs the layer's files on the node (not on an IA layer, whose
    # files are archived in the cold store: a restore is the one job that does not).
    needs_files: ClassVar[bool] = True

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
