"""A seccomp filter that refuses set-user-ID and set-group-ID bits inside the sandbox.

In the sandbox a process is ``nobody`` without capabilities, but in its user namespace
``nobody`` stands for the server's user on the host. Under a root server a file that a
kernel writes into its working area belongs to root outside, and without this filter
the kernel could make it a set-user-ID root program (the sandbox's ``nosuid`` mounts do
not reach outside). The filter makes ``chmod``, ``fchmod``, ``fchmodat``,
``fchmodat2``, ``open``, ``openat``, ``creat``, ``mknod`` and ``mknodat`` fail with
EPERM when the mode asks for those bits, and ``openat2`` and ``io_uring_setup`` (whose
modes it cannot read) with ENOSYS, so programs fall back to the calls above. Other
architectures' system calls (32-bit, x32) are refused.

bubblewrap loads it with ``--seccomp FD``; :func:`with_setid_filter` arranges the file
descriptor through ``/bin/sh`` (no extra process: the shell execs bubblewrap).
"""

from __future__ import annotations

import errno
import os
import platform
import struct
from collections.abc import Sequence
from pathlib import Path

SETID_FD = 9  # the descriptor bubblewrap reads the filter from (--seccomp)
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_SETID_BITS = 0o6000
# (system call number, index of its mode argument) on x86_64
_MODE_CALLS = {
    90: 1,  # chmod(path, mode)
    91: 1,  # fchmod(fd, mode)
    268: 2,  # fchmodat(dirfd, path, mode)
    452: 2,  # fchmodat2(dirfd, path, mode, flags)
    2: 2,  # open(path, flags, mode)
    257: 3,  # openat(dirfd, path, flags, mode)
    85: 1,  # creat(path, mode)
    133: 1,  # mknod(path, mode, dev)
    259: 2,  # mknodat(dirfd, path, mode, dev)
}
_UNREADABLE_MODE_CALLS = (437, 425)  # openat2 (mode in a struct), io_uring_setup

# classic BPF opcodes
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K


def setid_filter() -> bytes | None:
    """The compiled filter for this machine, or None where it is not available (not x86_64)."""
    if platform.machine() != "x86_64":
        return None
    # Instructions as (code, jump if true -> label, jump if false -> label, k); labels
    # are resolved to relative offsets below.
    program: list[tuple[int, str | None, str | None, int]] = [
        (_LD_ABS, None, None, 4),  # seccomp_data.arch
        (_JEQ, None, "deny", _AUDIT_ARCH_X86_64),
        (_LD_ABS, None, None, 0),  # seccomp_data.nr
        (_JGE, "deny", None, _X32_BIT),
    ]
    for number, argument in _MODE_CALLS.items():
        program.append((_JEQ, f"arg{argument}", None, number))
    for number in _UNREADABLE_MODE_CALLS:
        program.append((_JEQ, "nosys", None, number))
    program.append((_RET, None, None, _ALLOW))
    labels: dict[str, int] = {}
    for argument in sorted(set(_MODE_CALLS.values())):
        labels[f"arg{argument}"] = len(program)
        # The low 32 bits of seccomp_data.args[argument] (little endian)
        program.append((_LD_ABS, None, None, 16 + 8 * argument))
        program.append((_JSET, "deny", None, _SETID_BITS))
        program.append((_RET, None, None, _ALLOW))
    labels["deny"] = len(program)
    program.append((_RET, None, None, _ERRNO | errno.EPERM))
    labels["nosys"] = len(program)
    program.append((_RET, None, None, _ERRNO | errno.ENOSYS))

    def offset(pc: int, label: str | None) -> int:
        return 0 if label is None else labels[label] - pc - 1

    return b"".join(
        struct.pack("<HBBI", code, offset(pc, jt), offset(pc, jf), k)
        for pc, (code, jt, jf, k) in enumerate(program)
    )


def write_setid_filter(path: Path) -> Path | None:
    """Make sure *path* holds the filter (written atomically); None where there is none."""
    compiled = setid_filter()
    if compiled is None:
        return None
    try:
        if path.read_bytes() == compiled:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(compiled)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def with_setid_filter(bwrap_argv: Sequence[str], filter_path: Path | None) -> list[str]:
    """*bwrap_argv* loading the filter at *filter_path* (unchanged when there is none)."""
    if filter_path is None:
        return list(bwrap_argv)
    bwrap, *options = bwrap_argv
    return [
        "/bin/sh",
        "-c",
        f'f=$1; shift; exec "$@" {SETID_FD}<"$f"',
        "pennlayer-sandbox",
        str(filter_path),
        bwrap,
        "--seccomp",
        str(SETID_FD),
        *options,
    ]
