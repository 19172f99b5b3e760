"""What a person reads while a job runs: the CLI's job progress, on a terminal and in a log."""

from pennlayer_ext.cli_output import JobProgress

PACK = {"phase": "pack", "step": 1, "steps": 3, "message": "Packing"}
COMMIT = {"phase": "commit", "step": 3, "steps": 3, "message": "Moving the layer to IA"}


def _screen(written: str) -> list[str]:
    """The lines a terminal shows: each line as its last redraw (after its last CR)."""
    return [line.rsplit("\r", 1)[-1] for line in written.rstrip("\n").split("\n")]


def test_a_terminal_keeps_a_line_per_step_bytes_with_rate_and_files_else_the_time(capsys):
    view = JobProgress(interactive=True)
    view.show({**PACK, "bytes_done": 250_000_000, "bytes_total": 1_000_000_000, "files_done": 7})
    view.show({**PACK, "bytes_done": 600_000_000, "bytes_total": 1_000_000_000, "files_done": 40})
    view.show({**COMMIT, "bytes_done": 0, "bytes_total": 0})
    view.close(succeeded=True)
    lines = _screen(capsys.readouterr().err)
    packed = next(line for line in lines if line.startswith("[1/3] Packing"))
    # The job went past the step: it is shown done, with its files and its rate.
    assert "100%" in packed
    assert "1.00G/1.00G" in packed
    assert "40 files" in packed
    assert lines[-1] == "[3/3] Moving the layer to IA [00:00]"  # no "0.00B ?B/s"


def test_a_step_left_by_a_failed_job_stays_as_far_as_it_got(capsys):
    view = JobProgress(interactive=True)
    view.show({**PACK, "bytes_done": 600_000_000, "bytes_total": 1_000_000_000})
    view.close(succeeded=False)
    last = _screen(capsys.readouterr().err)[-1]
    assert "60%" in last
    assert "600M/1.00G" in last


def test_a_log_gets_a_line_per_step_and_one_every_few_seconds(capsys):
    view = JobProgress(interactive=False)
    for done in (1, 2, 3):  # within a second: one line, then the last one at the end
        view.show({**PACK, "bytes_done": done * 1000, "bytes_total": 3000, "files_done": done})
    view.show({**COMMIT})
    view.close(succeeded=True)
    assert capsys.readouterr().err.splitlines() == [
        "[1/3] Packing: 1.0 kB of 3.0 kB, 1 file(s)",
        "[3/3] Moving the layer to IA",
    ]
    view = JobProgress(interactive=False)
    view.show({**PACK, "bytes_done": 1000, "bytes_total": 3000})
    view.show({**PACK, "bytes_done": 2000, "bytes_total": 3000})
    view.close(succeeded=False)
    assert capsys.readouterr().err.splitlines() == [
        "[1/3] Packing: 1.0 kB of 3.0 kB",
        "[1/3] Packing: 2.0 kB of 3.0 kB",  # where it stopped
    ]
