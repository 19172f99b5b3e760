"""Whoever waits for a restore sees how far it is: the CLI's run shows a bar (or lines)
for the archived layers its run mounts while their restore jobs move bytes.

The restore job is real (recorded by the tiers service, its progress written where its
worker writes it); what is checked is what a person reads on stderr.
"""

import io
import sys

import pytest

from pennlayer_ext.cli_tiers import RestoreBars
from pennlayer_ext.core import LayerManager

from .test_tiers import make_rich_layer, wait_job

pytestmark = pytest.mark.timeout(120)


def _progress(manager, job_id, done, total):
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.update_job(
            conn,
            job_id,
            progress={
                "phase": "fetch",
                "step": 1,
                "steps": 3,
                "message": "Reading the archive",
                "bytes_done": done,
                "bytes_total": total,
            },
        )


def test_a_run_waiting_for_a_restore_shows_its_bytes(tmp_path, monkeypatch):
    manager = LayerManager(tmp_path / "store")
    make_rich_layer(manager, "genome")
    assert wait_job(manager, manager.start_archive("genome", owner="ops"))["state"] == "succeeded"
    job = manager.start_restore("genome", owner=None, spawn=False)  # as a run's job starts it
    _progress(manager, job["id"], 300_000_000, 1_200_000_000)

    # Given stderr is not a terminal: one line with bytes done and total
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bars = RestoreBars(manager, ["env", "genome", "genome"], interactive=False)
    bars.update()
    bars.update()  # within a few seconds: not said again
    bars.close()
    assert err.getvalue() == "[restore] genome (IA): 300 MB of 1.2 GB\n"

    # Given a terminal: a bar with the bytes, moving with the job
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bars = RestoreBars(manager, ["genome"], interactive=True)
    bars.update()
    _progress(manager, job["id"], 900_000_000, 1_200_000_000)
    bars.update()
    bars.close()
    shown = err.getvalue()
    assert "restoring genome (IA)" in shown
    assert "900M/1.20G" in shown
    assert "75%" in shown


def test_no_bar_when_nothing_is_restored(tmp_path, monkeypatch):
    manager = LayerManager(tmp_path / "store")
    make_rich_layer(manager, "genome")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bars = RestoreBars(manager, ["genome", "absent"], interactive=True)
    bars.update()
    bars.close()
    assert err.getvalue() == ""


def test_a_restore_that_ends_between_two_looks_is_still_told(tmp_path):
    """JupyterLab learns of a kernel launch's restore from its job event; a restore that
    is quicker than the watcher's interval must be told too (its end), old jobs not."""
    from pennlayer_ext.events import EVENT_JOB, ChangeWatcher

    manager = LayerManager(tmp_path / "store")
    make_rich_layer(manager, "genome")
    archive = wait_job(manager, manager.start_archive("genome", owner="ops"))
    watcher = ChangeWatcher(manager)
    first = [data for schema, data in watcher.poll() if schema == EVENT_JOB]
    assert first == []  # what ended before the server looked is history, not news

    restore = wait_job(manager, manager.start_restore("genome", owner=None))
    assert restore["state"] == "succeeded"
    told = [data for schema, data in watcher.poll() if schema == EVENT_JOB]
    assert [(event["id"], event["kind"], event["state"]) for event in told] == [
        (restore["id"], "restore", "succeeded")
    ]
    assert archive["id"] not in {event["id"] for event in told}
    assert [data for schema, data in watcher.poll() if schema == EVENT_JOB] == []
