"""The states of jobs and layers, and the one table of legal job transitions.

The catalog stores the enums' values (plain strings), so records written before these
enums existed read the same. Every change of a job's state goes through
:func:`check_transition`: an illegal one is a bug and raises, it is never written.
"""

from __future__ import annotations

from enum import Enum


class _Values(str, Enum):
    """An enum whose members are their plain string values wherever they are shown."""

    def __str__(self) -> str:
        return str(self.value)


class JobState(_Values):
    """Where a job is: waiting for its worker, running, or ended one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LayerStatus(_Values):
    """What a layer can be used for now (DESIGN: EMPTY → BUILDING/POPULATING → READY/FAILED)."""

    EMPTY = "EMPTY"
    BUILDING = "BUILDING"
    POPULATING = "POPULATING"
    READY = "READY"
    FAILED = "FAILED"


ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)
TERMINAL_JOB_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

# A queued job may fail or be cancelled before its worker starts (the worker could not
# start, the server stopped, a cancel came first); only a running job can succeed.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A job state change that the transition table does not allow (a bug, not bad input)."""


def check_transition(current: str, new: str) -> JobState:
    """*new* as a JobState if a job in state *current* may move to it; else raise."""
    old_state, new_state = JobState(current), JobState(new)
    if new_state not in JOB_TRANSITIONS[old_state]:
        raise IllegalTransition(f"A job cannot go from {old_state} to {new_state}.")
    return new_state
