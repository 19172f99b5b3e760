"""Human-readable figures shared by the CLI and the notebook magics."""

from __future__ import annotations

from datetime import datetime, timezone

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_bytes(size: int) -> str:
    """``1234567`` -> ``'1.2 MB'`` (powers of 1024, as ``du -h`` shows them)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_cost(usd: float) -> str:
    """Monthly cost with cents, or '<$0.01' for a tiny but non-zero amount."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def human_age(timestamp: str | None, now: datetime | None = None) -> str:
    """``'2026-11-20T10:00:00.000Z'`` -> ``'1 day ago'``; ``None`` -> ``'never'``."""
    if not timestamp:
        return "never"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = seconds // length
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise AssertionError("unreachable")
