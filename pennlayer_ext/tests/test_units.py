"""One unit system: the CLI and job messages print sizes and costs as JupyterLab does.

The cases are shared with the extension's tests (src/__tests__/figures.json), so the
two formatters cannot drift apart.
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pennlayer_ext.core.costs import monthly_cost, validate_prices
from pennlayer_ext.core.units import human_bytes, human_cost, human_time_left, seconds_left_now

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
