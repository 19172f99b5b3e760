"""What turns a fetched source into a layer's files: one class per processor type.

A populate request names its processor as ``{"type": ..., <fields>}``. The type's class
checks and normalises that object when the request arrives (a bad one is a 400 that
changes nothing) and runs it later in the job's worker, reading the fetched source and
writing the output folder. Adding a processor is one module here and one line in
``PROCESSORS``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InvalidInput
from ..load_progress import STEPS, Progress
from ..runner import StepFailed
from ..sandbox import normalize_tree
from .nofollow import kind_of, open_path

if TYPE_CHECKING:
    from ..runner import JobContext

MAX_COMMAND_LENGTH = 8192


@dataclass(frozen=True)
class ProcessStep:
    """What a processor works on in one populate job.

    *spec* is what ``Processor.check`` returned. *previous* is the layer's current version
    when the new one adds to it (mode ``add``), for processors that can reuse its files.
    With *in_place*, *source* is the user's own data: read it, never move or change it,
    and never through a link (it is resolved and checked; open it with ``nofollow``);
    otherwise it was fetched into the job's staging folder. *settings* are the node's
    loader settings the job was started with (``NodeSettings.loader_settings``).
    """

    ctx: JobContext
    source: Path
    output: Path
    spec: Mapping[str, Any]
    previous: Path | None
    in_place: bool
    settings: Mapping[str, Any] = field(default_factory=dict)

    def resolved_source(self) -> Path:
        """The source's path to open part by part (``nofollow.open_path``): a local source
        as it was resolved and checked (a part swapped for a link since fails the open),
        a fetched one in staging, whose root may be reached through a configured link."""
        return self.source if self.in_place else Path(os.path.realpath(self.source))

    def open_source(self) -> tuple[int, os.stat_result]:
        """The source (a folder or a regular file) opened without following any link,
        and its ``fstat``. A sandbox or a container is given this very folder or file,
        not its path: a user who swaps a part of the path for a link after the check
        cannot point a loader at anything else."""
        fd = open_path(self.resolved_source())
        try:
            info = os.fstat(fd)
            if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                raise StepFailed(
                    f"The source is {kind_of(info.st_mode)}, not a folder or a file; "
                    "nothing was loaded."
                )
        except BaseException:
            os.close(fd)
            raise
        return fd, info


class Processor:
    """One processor type: check its request object, then run it in a job's worker.

    Subclasses set ``name`` (the ``type`` in requests, the key in ``PROCESSORS``),
    ``fields`` (the request fields it accepts besides ``type``) and ``holds_source`` (what
    it writes is at least as big as the source: the free-space check before a job counts
    the source's size).
    """

    name: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()
    holds_source: ClassVar[bool] = False

    def check(self, spec: Mapping[str, Any], *, backend_allows_command: bool) -> dict[str, Any]:
        """The checked request object with its defaults filled in, or raise InvalidInput.

        The result is stored in the layer's recipe, so a re-run gets the same values
        even if a default changes later. Subclasses call this first, then check their
        own fields.
        """
        unknown = sorted(set(spec) - self.fields - {"type"})
        if unknown:
            raise InvalidInput(
                f"Unknown field(s) for the {self.name} processor: {', '.join(unknown)}."
            )
        return dict(spec)

    def run(self, step: ProcessStep) -> None:
        """Write the layer's files into ``step.output`` from ``step.source``."""
        raise NotImplementedError

    @staticmethod
    def report(ctx: JobContext, message: str) -> None:
        """Say what the process step is doing, in the job's progress and log."""
        ctx.progress("process", 2, STEPS, message)

    @staticmethod
    def meter(ctx: JobContext, message: str) -> Progress:
        """Byte and file counts for the process step of the job's progress."""

        return Progress(ctx, "process", 2, message)

    @staticmethod
    def keep_plain_files(ctx: JobContext, output: Path, made_by: str) -> None:
        """Leave only plain modes in what foreign code wrote, and say what was dropped.

        A command or an image may set setuid bits or make fifos, sockets and devices;
        none of that may reach a layer.
        """
        dropped = normalize_tree(output)
        if dropped:
            shown = ", ".join(dropped[:20]) + (", ..." if len(dropped) > 20 else "")
            ctx.log(
                f"Dropped {len(dropped)} special file(s) {made_by} made (fifos, sockets, "
                f"devices): {shown}"
            )


def check_shell_command(processor: str, command: Any) -> str:
    """A shell command given to *processor*, or raise InvalidInput."""
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput(f"The {processor} processor needs a 'command' (a shell command).")
    if len(command) > MAX_COMMAND_LENGTH or "\x00" in command:
        raise InvalidInput(
            f"The command is too long or contains NUL (at most {MAX_COMMAND_LENGTH})."
        )
    return command


# The submodules subclass Processor, so they are imported once it exists.
from .command import CommandProcessor  # noqa: E402
from .copy import CopyProcessor  # noqa: E402
from .docker import DockerProcessor  # noqa: E402
from .unpack import UnpackProcessor  # noqa: E402

PROCESSORS: dict[str, type[Processor]] = {
    "copy": CopyProcessor,
    "unpack": UnpackProcessor,
    "command": CommandProcessor,
    "docker": DockerProcessor,
}
DEFAULT_PROCESSOR = "copy"


def get_processor(name: Any) -> Processor:
    """The processor whose type is *name*, or raise InvalidInput naming the known types."""
    kind = PROCESSORS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise InvalidInput(f"Unknown processor type {name!r}: use one of {', '.join(PROCESSORS)}.")
    return kind()


def check_processor(spec: Any, *, backend_allows_command: bool) -> dict[str, Any]:
    """A request's processor object, checked and normalised (none means the default)."""
    if spec is None:
        spec = {"type": DEFAULT_PROCESSOR}
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            f"The processor must be an object with a 'type', one of {', '.join(PROCESSORS)}."
        )
    if spec.get("type") is None:
        raise InvalidInput(f"The processor needs a 'type': one of {', '.join(PROCESSORS)}.")
    processor = get_processor(spec["type"])
    return processor.check(spec, backend_allows_command=backend_allows_command)


__all__ = [
    "DEFAULT_PROCESSOR",
    "MAX_COMMAND_LENGTH",
    "PROCESSORS",
    "CommandProcessor",
    "CopyProcessor",
    "DockerProcessor",
    "Processor",
    "UnpackProcessor",
    "check_processor",
    "check_shell_command",
    "get_processor",
]
