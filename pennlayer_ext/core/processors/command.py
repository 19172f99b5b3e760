"""A shell command in the bwrap sandbox: /input read-only, /output writable, no network."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..sandbox import processor_command
from ..sandbox.setid import write_setid_filter
from . import Processor, ProcessStep, check_shell_command

if TYPE_CHECKING:
    pass


class CommandProcessor(Processor):
    """``command``: a shell command that reads /input and writes /output, sandboxed."""

    name = "command"
    fields = frozenset({"command"})

    def check(self, spec: Mapping[str, Any], *, backend_allows_command: bool) -> dict[str, Any]:
        result = super().check(spec, backend_allows_command=backend_allows_command)
        check_shell_command(self.name, spec.get("command"))
        # Without bwrap the command would run with the server's rights: refuse it.
        if not backend_allows_command:
            raise InvalidInput(
                "The command processor needs the bwrap sandbox, which this node does not have."
            )
        return result

    def run(self, step: ProcessStep) -> None:
        ctx, output, spec = step.ctx, step.output, step.spec
        output.mkdir(parents=True, exist_ok=True)
        self.report(ctx, "Running the command in the sandbox")
        setid_filter = write_setid_filter(ctx.store.setid_filter_path)
        opened, _ = step.open_source()
        try:
            # Numbered above the set-id filter's descriptor (9), which the sandbox's
            # wrapper opens under the same number.
            source_fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)
        finally:
            os.close(opened)
        try:
            argv = processor_command(source_fd, output, spec["command"], setid_filter)
            ctx.run(argv, what="The command", pass_fds=(source_fd,))
        finally:
            os.close(source_fd)
        self.keep_plain_files(ctx, output, "the command")
