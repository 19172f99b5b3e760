"""Human-readable figures shared by the CLI, the notebook magics and job messages.

One unit system everywhere (API docs, CLI, JupyterLab, messages): decimal units,
1 kB = 1000 bytes, 1 MB = 1000 kB, 1 GB = 1000 MB, as storage prices count them. The
JupyterLab extension's ``formatBytes`` (src/format.ts) gives the same text for the same
count. The API itself always carries byte counts as integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")

#: The number of bytes in one GB, the unit prices are quoted in (USD per GB-month).
BYTES_PER_GB = 1000**3


def human_bytes(size: int) -> str:
    """``1234567`` -> ``'1.2 MB'``, ``340_000_000`` -> ``'340 MB'`` (powers of 1000)."""
    if size <= 0:
        return "0 B"
    value = float(size)
    unit = 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    # One decimal below 100, none from 100 on; what rounds up to 1000 moves to the next
    # unit (999.96 MB is 1.0 GB).
    tenths = _round_half_up(value, 1)
    if float(tenths) < 100:
        return f"{tenths} {_UNITS[unit]}"
    whole = _round_half_up(value, 0)
    if int(whole) >= 1000 and unit < len(_UNITS) - 1:
        return f"{_round_half_up(value / 1000, 1)} {_UNITS[unit + 1]}"
    return f"{whole} {_UNITS[unit]}"


def _round_half_up(value: float, digits: int) -> str:
    """*value* with *digits* decimals, ties away from zero, as JavaScript's toFixed."""
    step = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(step, rounding=ROUND_HALF_UP))


def human_cost(usd: float) -> str:
    """Dollars with cents (``'$1,234.50'``), or ``'<$0.01'`` for a tiny but non-zero
    amount, as JupyterLab shows it (half a cent rounds up)."""
    if not usd > 0:
        return "$0.00"
    if usd < 0.01:
        return "<$0.01"
    cents = Decimal(repr(usd)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${cents:,}"


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


# A step's rate is trusted after this long (the first second is connections and
# listings more than bytes).
_SETTLED_S = 2.0


def seconds_left(done: int, total: int | None, elapsed_s: float) -> int | None:
    """The seconds a step has left at its mean rate so far: *done* of *total* bytes in
    *elapsed_s*; None until the rate says something (or when the total is unknown)."""
    if not total or done <= 0 or done >= total or elapsed_s < _SETTLED_S:
        return None
    return round((total - done) * elapsed_s / done)


def seconds_left_now(progress: Mapping[str, Any], now: datetime | None = None) -> int | None:
    """A running step's time left as of *now*, at its mean rate since it began
    (``step_started_at``): a download that stalls is not left saying "about 5 s left"
    from its last bytes, its estimate grows as the rate falls. None when the progress
    does not count bytes towards a known total."""
    since = progress.get("step_started_at")
    if not isinstance(since, str):
        return None
    try:
        began = datetime.fromisoformat(since.replace("Z", "+00:00"))
        done, total = int(progress.get("bytes_done") or 0), progress.get("bytes_total")
    except (TypeError, ValueError):
        return None
    elapsed = ((now or datetime.now(timezone.utc)) - began).total_seconds()
    return seconds_left(done, total if isinstance(total, int) else None, elapsed)


def bytes_text(progress: Mapping[str, Any], *, files: bool = False) -> str:
    """A step that moves bytes as words: ``'3.2 GB of 12.0 GB, about 4 min left'`` (the
    total and time left when known; with *files*, the files so far after the bytes)."""
    text = human_bytes(progress.get("bytes_done") or 0)
    if total := progress.get("bytes_total"):
        text += f" of {human_bytes(total)}"
    if files and "files_done" in progress:
        text += f", {progress['files_done']} file(s)"
    if left := human_time_left(progress.get("seconds_left")):
        text += f", {left}"
    return text


def packages_text(progress: Mapping[str, Any]) -> str | None:
    """A build's download as words: ``'31 of 38 packages, downloading scipy 35.3 MB,
    numpy 16.9 MB and 1 more'``; None when the progress counts no packages."""
    total = progress.get("packages_total")
    if not total:
        return None
    text = f"{progress.get('packages_done') or 0} of {total} packages"
    coming = downloading_text(progress)
    return f"{text}, downloading {coming}" if coming else text


def progress_short(progress: Mapping[str, Any]) -> str | None:
    """How far a running job has come in a few words, for a layer's row in a list: a
    build's packages (``'31 of 38 packages'``), the bytes moved (``'81.0 MB of 300 MB,
    about 15 s left'``) or its step (``'step 3 of 5'``); None when it has said nothing
    yet. The Layers panel's rows say the same (``progressShort`` in src/jobProgress.ts)."""
    if total := progress.get("packages_total"):
        done = min(max(int(progress.get("packages_done") or 0), 0), int(total))
        return f"{done} of {total} package{'' if total == 1 else 's'}"
    if total := progress.get("bytes_total"):
        done = min(max(int(progress.get("bytes_done") or 0), 0), int(total))
        text = f"{human_bytes(done)} of {human_bytes(total)}"
        left = human_time_left(progress.get("seconds_left"))
        return f"{text}, {left}" if left else text
    if progress.get("step") and progress.get("steps"):
        return f"step {progress['step']} of {progress['steps']}"
    return None


def downloading_text(progress: Mapping[str, Any], named_at_most: int = 2) -> str:
    """The big packages a build still downloads: the biggest with their sizes, then how
    many more (``'scipy 35.3 MB, numpy 16.9 MB and 1 more'``); empty if none."""
    coming = progress.get("downloading") or []
    named = [f"{item['name']} {human_bytes(int(item['bytes']))}" for item in coming[:named_at_most]]
    if len(coming) > len(named):
        named = [", ".join(named), f"{len(coming) - len(named)} more"]
    return " and ".join(named)


def recipe_fields(recipe: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A reference layer's loader recipe as (label, text), as the Layers panel's details
    show it: ``[("Source", "/data/hg38"), ("Processor", "unpack (tar.gz)"), ("Mode",
    "replace")]`` (a docker processor: its image, then ``: command``)."""
    processor = recipe.get("processor") or {}
    text = str(processor.get("type") or "copy")  # the server's defaults, as stored before
    if processor.get("format"):
        text += f" ({processor['format']})"
    if processor.get("image"):
        text += f" {processor['image']}"
    if processor.get("command"):
        text += f": {processor['command']}"
    return [
        ("Source", str(recipe.get("source") or "")),
        ("Processor", text),
        ("Mode", str(recipe.get("mode") or "replace")),
    ]


def human_time_left(seconds: int | float | None) -> str | None:
    """``'about 40 s left'``, ``'about 4 min left'``, ``'about 1 h 5 min left'`` (to 5 s
    under a minute, whole minutes under an hour); None for None."""
    if seconds is None:
        return None
    seconds = max(0, int(seconds))
    # Halves round up, as in JavaScript (formatTimeLeft in src/format.ts says the same).
    fives = max(5, 5 * int(seconds / 5 + 0.5))
    if fives < 60:
        return f"about {fives} s left"
    minutes = max(1, int(seconds / 60 + 0.5))
    if minutes < 60:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min left" if minutes else f"about {hours} h left"
