"""One unit system: the CLI and job messages print sizes and costs as JupyterLab does.

The cases are shared with the extension's tests (src/__tests__/figures.json), so the
two formatters cannot drift apart.
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pennlayer_ext.core.costs import monthly_cost, validate_prices
from pennlayer_ext.core.units import (
    human_bytes,
    human_cost,
    human_time_left,
    progress_short,
    seconds_left_now,
)

FIGURES = Path(__file__).resolve().parents[2] / "src" / "__tests__" / "figures.json"

pytestmark = pytest.mark.skipif(not FIGURES.exists(), reason="needs the source checkout")


def _cases(kind):
    if not FIGURES.exists():
        return []
    return json.loads(FIGURES.read_text(encoding="utf-8"))[kind]


@pytest.mark.parametrize(("size", "text"), _cases("bytes"))
def test_sizes_read_as_in_jupyterlab(size, text):
    assert human_bytes(size) == text


@pytest.mark.parametrize(("usd", "text"), _cases("usd"))
def test_costs_read_as_in_jupyterlab(usd, text):
    assert human_cost(usd) == text


@pytest.mark.parametrize(("seconds", "text"), _cases("seconds_left"))
def test_time_left_reads_as_in_jupyterlab(seconds, text):
    assert human_time_left(seconds) == text


def test_sizes_are_decimal_and_never_binary():
    # 1 GiB is 1.07 GB: a binary count under a decimal label would say 1.0 GB.
    assert human_bytes(1024**3) == "1.1 GB"
    assert human_bytes(1024**4) == "1.1 TB"
    assert human_bytes(1000**3) == "1.0 GB"


def test_a_gb_of_files_costs_the_price_per_gb_month():
    # Shown as "1.0 GB", it costs the price of one GB-month, not 7 % less.
    prices = validate_prices({})
    assert human_bytes(1_000_000_000) == "1.0 GB"
    assert monthly_cost(1_000_000_000, "STANDARD", prices) == 0.30
    assert monthly_cost(2_000_000_000, "IA", prices) == 0.032


def test_a_step_s_time_left_is_reckoned_as_of_the_reading():
    began = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    progress = {"bytes_done": 50, "bytes_total": 100, "step_started_at": "2026-11-30T12:00:00.000Z"}
    # Half in 10 s: 10 s left; read 90 s later with no new byte, the rate halved twice more.
    assert seconds_left_now(progress, began + timedelta(seconds=10)) == 10
    assert seconds_left_now(progress, began + timedelta(seconds=100)) == 100
    # Too early to say, nothing counted yet, done, or no total: nothing is said.
    assert seconds_left_now(progress, began + timedelta(seconds=1)) is None
    assert seconds_left_now({**progress, "bytes_done": 0}, began + timedelta(seconds=9)) is None
    assert seconds_left_now({**progress, "bytes_done": 100}, began + timedelta(seconds=9)) is None
    assert seconds_left_now({**progress, "bytes_total": None}, began + timedelta(seconds=9)) is None
    # A progress without its step's start (a build's, an older worker's) or a broken one.
    assert seconds_left_now({"bytes_done": 5, "bytes_total": 9}) is None
    assert seconds_left_now({**progress, "step_started_at": "yesterday"}) is None
    assert seconds_left_now({**progress, "bytes_done": "many"}) is None


@pytest.mark.parametrize(
    ("progress", "text"),
    [
        ({"step": 2, "steps": 5, "packages_total": 38, "packages_done": 31}, "31 of 38 packages"),
        ({"packages_total": 1, "packages_done": 0}, "0 of 1 package"),
        ({"packages_total": 3, "packages_done": 9}, "3 of 3 packages"),  # never past all
        ({"bytes_total": 300_000_000, "bytes_done": 81_000_000}, "81.0 MB of 300 MB"),
        (
            {"bytes_total": 300_000_000, "bytes_done": 81_000_000, "seconds_left": 14},
            "81.0 MB of 300 MB, about 15 s left",
        ),
        ({"step": 3, "steps": 5, "message": "Recording the exact packages"}, "step 3 of 5"),
        ({}, None),
    ],
)
def test_a_busy_layer_s_row_says_how_far_its_job_is_as_in_jupyterlab(progress, text):
    # The Layers panel's rows say the same (progressShort in src/jobProgress.ts)
    assert progress_short(progress) == text
