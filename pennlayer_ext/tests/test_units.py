"""One unit system: the CLI and job messages print sizes and costs as JupyterLab does.

The cases are shared with the extension's tests (src/__tests__/figures.json), so the
two formatters cannot drift apart.
"""

import json
from pathlib import Path

import pytest

from pennlayer_ext.core.costs import monthly_cost, validate_prices
from pennlayer_ext.core.units import human_bytes, human_cost, human_time_left

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
