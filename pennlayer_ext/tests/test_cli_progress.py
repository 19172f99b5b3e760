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


INSTALL = {
    "phase": "install",
    "step": 2,
    "steps": 5,
    "message": "Resolving and installing packages",
}
LOCK = {"phase": "lock", "step": 3, "steps": 5, "message": "Recording the exact packages"}
SCIPY = {"name": "scipy", "bytes": 35_336_192}
NUMPY = {"name": "numpy", "bytes": 16_882_073}
PANDAS = {"name": "pandas", "bytes": 11_114_905}


def _bar_width(line):
    """How much of a terminal line's bar is filled, 0 to 1 (tqdm's eighths count)."""
    bar = line.split("|")[1]
    eighths = " ▏▎▍▌▋▊▉█"
    return sum(eighths.index(char) for char in bar) / (8 * len(bar))


def test_a_build_download_counts_packages_and_fills_its_bar_by_the_announced_bytes(capsys):
    # On a terminal: the step's line counts packages and names the biggest still coming;
    # its bar fills with the bytes uv announced, not with the count
    view = JobProgress(interactive=True)
    view.show(INSTALL)  # resolving: no count yet
    view.show({**INSTALL, "packages_done": 31, "packages_total": 38,
               "download_bytes_done": 20_000_000, "download_bytes_total": 83_333_170,
               "downloading": [SCIPY, NUMPY, PANDAS]})  # fmt: skip
    midway = _screen(capsys.readouterr().err)[-1]
    assert midway.startswith(
        "[2/5] Resolving and installing packages: 31/38 packages, "
        "downloading scipy 35.3 MB and 2 more |"
    )
    assert 0.2 <= _bar_width(midway) <= 0.26  # a quarter of the bytes, not 31/38
    view.show({**INSTALL, "packages_done": 37, "packages_total": 38,
               "download_bytes_done": 47_996_978, "download_bytes_total": 83_333_170,
               "downloading": [SCIPY]})  # fmt: skip
    late = _screen(capsys.readouterr().err)[-1]
    assert "37/38 packages, downloading scipy 35.3 MB |" in late
    view.show(LOCK)  # the step went past: its bar is full, nothing is coming
    view.close(succeeded=True)
    lines = _screen(capsys.readouterr().err)
    done = next(line for line in lines if line.startswith("[2/5]")).rstrip()
    assert done.startswith("[2/5] Resolving and installing packages: 38/38 packages |")
    assert _bar_width(done) == 1.0

    # Without announced sizes (only small packages), the count fills the bar
    view = JobProgress(interactive=True)
    view.show({**INSTALL, "packages_done": 3, "packages_total": 4})
    assert 0.7 <= _bar_width(_screen(capsys.readouterr().err)[-1]) <= 0.76
    view.close(succeeded=False)
    capsys.readouterr()

    # In a log: the same in words
    view = JobProgress(interactive=False)
    view.show({**INSTALL, "packages_done": 36, "packages_total": 38,
               "downloading": [SCIPY, NUMPY]})  # fmt: skip
    view.close(succeeded=False)
    assert capsys.readouterr().err.splitlines() == [
        "[2/5] Resolving and installing packages: 36 of 38 packages, "
        "downloading scipy 35.3 MB and numpy 16.9 MB"
    ]


def test_a_cell_following_a_build_reads_the_same_count():
    from pennlayer_ext.magics.progress import describe, fraction

    job = {"kind": "build", "layer": "sci", "state": "running", "error": None}
    job["progress"] = {**INSTALL, "packages_done": 30, "packages_total": 40,
                       "downloading": [SCIPY]}  # fmt: skip
    assert describe(job) == (
        "build sci: running, step 2 of 5, Resolving and installing packages "
        "(30 of 40 packages, downloading scipy 35.3 MB)"
    )
    assert fraction(job) == 0.75
    job["progress"].update(download_bytes_done=25, download_bytes_total=100)
    assert fraction(job) == 0.25  # by the bytes uv announced, when it did
    job["progress"] = {**INSTALL}  # still resolving: the step tells how far
    assert fraction(job) == 0.2


def test_a_step_counting_bytes_says_its_time_left_once_known():
    from pennlayer_ext.magics.progress import describe

    fetch = {"phase": "fetch", "step": 1, "steps": 5, "message": "Downloading genome.fa"}
    progress = {**fetch, "bytes_done": 3_200_000_000, "bytes_total": 12_000_000_000}
    job = {"kind": "populate", "layer": "hg38", "state": "running", "error": None}
    assert describe({**job, "progress": progress}).endswith("(3.2 GB of 12.0 GB)")
    progress["seconds_left"] = 260
    assert describe({**job, "progress": progress}).endswith("(3.2 GB of 12.0 GB, about 4 min left)")


def test_a_log_line_of_bytes_says_the_time_left(capsys):
    view = JobProgress(interactive=False)
    view.show({**PACK, "bytes_done": 1000, "bytes_total": 3000, "seconds_left": 42})
    view.close(succeeded=False)
    assert capsys.readouterr().err.splitlines() == [
        "[1/3] Packing: 1.0 kB of 3.0 kB, about 40 s left"
    ]
