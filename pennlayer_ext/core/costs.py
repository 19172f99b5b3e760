"""Storage classes and the monthly cost estimate."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import InvalidInput
from .units import BYTES_PER_GB

STORAGE_CLASSES = ("STANDARD", "IA")
# The price of reading archived data back (a restore), per GB retrieved: not a class.
RETRIEVAL_PRICE = "IA_RETRIEVAL"

# Published AWS EFS list prices: per GB-month for Standard and Infrequent Access, and
# Infrequent Access's per-GB retrieval price.
DEFAULT_PRICES: dict[str, float] = {"STANDARD": 0.30, "IA": 0.016, RETRIEVAL_PRICE: 0.01}

__all__ = ["BYTES_PER_GB", "DEFAULT_PRICES", "STORAGE_CLASSES", "monthly_cost", "validate_prices"]


def validate_prices(prices: Mapping[str, object]) -> dict[str, float]:
    """Return a full price table (USD per GB-month per storage class, and USD per GB
    retrieved from IA) or raise InvalidInput."""
    unknown = sorted(set(prices) - set(DEFAULT_PRICES))
    if unknown:
        raise InvalidInput(
            f"Unknown storage class(es) in prices: {', '.join(unknown)}; "
            f"known classes are {', '.join(STORAGE_CLASSES)} (and {RETRIEVAL_PRICE}, the "
            "price per GB read back from IA)."
        )
    table = dict(DEFAULT_PRICES)
    for storage_class, price in prices.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            unit = "per GB" if storage_class == RETRIEVAL_PRICE else "per GB-month"
            raise InvalidInput(
                f"The price of {storage_class} must be a number >= 0 (USD {unit}), not {price!r}."
            )
        table[storage_class] = float(price)
    return table


def monthly_cost(size_bytes: int, storage_class: str, prices: Mapping[str, float]) -> float:
    """Estimated USD per month for *size_bytes* in *storage_class*, rounded to a millicent.

    A GB is 1000**3 bytes, the unit every size is shown in: a layer shown as 2.0 GB costs
    twice the price per GB-month.
    """
    return round(size_bytes / BYTES_PER_GB * prices[storage_class], 5)


def retrieval_cost(archive_bytes: int, prices: Mapping[str, float]) -> float:
    """Estimated USD to read an archive of *archive_bytes* back from IA (a restore)."""
    return round(archive_bytes / BYTES_PER_GB * prices.get(RETRIEVAL_PRICE, 0.0), 5)
