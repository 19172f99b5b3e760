"""Whose a process is. A person's server tells the node service which process holds
their kernel's session (and which executes their headless run): while it runs, the
layers it mounts stay in use. The service takes only a process of that person, so nobody
can keep a session alive with someone else's long-lived process (pid 1, a daemon).

Hub users are matched to the node's system accounts by name, as JupyterHub's local
spawners run them. Where a Hub user has no system account of that name (a spawner that
runs servers elsewhere), there is nothing to compare with and the process is taken as
reported (docs/operators.md says so).
"""

from __future__ import annotations

import os
import pwd

from .errors import Forbidden


def check_process_owner(pid: int, user: str | None) -> None:
    """Forbidden unless process *pid* belongs to *user*'s system account; None (the
    store's own process) and users without an account pass; a gone process passes (its
    session is then closed as dead)."""
    if user is None:
        return
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return
    if owner != account.pw_uid:
        raise Forbidden(
            f"Process {pid} is not one of {user}'s: a session or run can be held only by a "
            "process of the person it belongs to."
        )
