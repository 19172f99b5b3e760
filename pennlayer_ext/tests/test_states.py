"""Job states: one enum, one transition table; an illegal change raises and writes nothing."""

import sqlite3

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.jobkinds import job_kind
from pennlayer_ext.core.states import (
    JOB_TRANSITIONS,
    IllegalTransition,
    JobState,
    check_transition,
)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("queued", "running"),
        ("queued", "failed"),
        ("queued", "cancelled"),
        ("running", "succeeded"),
        ("running", "failed"),
        ("running", "cancelled"),
    ],
)
def test_legal_transitions(current, new):
    assert check_transition(current, new) == JobState(new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("queued", "succeeded"),
        ("running", "queued"),
        ("succeeded", "failed"),
        ("failed", "running"),
        ("cancelled", "succeeded"),
        ("succeeded", "succeeded"),
    ],
)
def test_illegal_transitions_raise(current, new):
    with pytest.raises(IllegalTransition, match=f"from {current} to {new}"):
        check_transition(current, new)


def test_every_state_has_a_row_and_ended_states_are_final():
    assert set(JOB_TRANSITIONS) == set(JobState)
    for state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        assert JOB_TRANSITIONS[state] == frozenset()


def test_the_catalog_refuses_an_illegal_change_and_stores_plain_values(tmp_path):
    # Given a queued build job
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("env", "environment")
    job = manager.start_build("env", "plfast\n", spawn=False)
    catalog = manager.catalog
    # When it runs and succeeds, the catalog holds the enum's plain values
    with catalog.transaction(write=True) as conn:
        catalog.update_job(conn, job["id"], state=JobState.RUNNING)
    with catalog.transaction(write=True) as conn:
        catalog.update_job(conn, job["id"], state="succeeded")
    raw = sqlite3.connect(catalog.path).execute("SELECT state FROM jobs").fetchone()[0]
    assert raw == "succeeded"
    assert type(raw) is str
    # Then a change out of an ended state raises and leaves the record as it was
    with pytest.raises(IllegalTransition), catalog.transaction(write=True) as conn:
        catalog.update_job(conn, job["id"], state=JobState.RUNNING, error="oops")
    assert manager.get_job(job["id"])["state"] == "succeeded"
    assert manager.get_job(job["id"])["error"] is None


def test_cancelling_an_ended_job_is_a_clear_conflict_not_a_transition(tmp_path):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("env", "environment")
    job = manager.start_build("env", "plfast\n", spawn=False)
    assert manager.cancel_job(job["id"])["state"] == "cancelled"
    assert manager.get_layer("env")["status"] == "EMPTY"
    with pytest.raises(Exception, match="already cancelled"):
        manager.cancel_job(job["id"])


def test_unknown_job_kinds_name_the_known_ones():
    with pytest.raises(InvalidInput, match="use one of build, populate, run, archive, restore"):
        job_kind("compress")
