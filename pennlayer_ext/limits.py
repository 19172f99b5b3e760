"""PennLayerApp's limits on what loaders fetch and unpack, where they may connect, and
the disk they must leave free (a part of the settings in config.py)."""

from __future__ import annotations

from typing import Any

from traitlets import Int, List, TraitError, Unicode, Union, validate
from traitlets.config import Configurable

from .core import PennLayerError
from .core.addresses import check_allowed_hosts
from .core.diskspace import DEFAULT_DISK_RESERVE, parse_reserve
from .core.settings import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_UNPACKED_BYTES,
    DEFAULT_MAX_UNPACKED_FILES,
)


def not_negative(proposal: Any) -> Any:
    """A traitlets validator's check that a PennLayerApp number is 0 or more."""
    if proposal["value"] < 0:
        raise TraitError(f"PennLayerApp.{proposal['trait'].name} must be 0 or more.")
    return proposal["value"]


class LimitsConfig(Configurable):
    """Limits of loaders and jobs (set as ``PennLayerApp.<setting>``)."""

    max_download_bytes = Int(
        DEFAULT_MAX_DOWNLOAD_BYTES,
        config=True,
        help="Largest http(s) download or S3 prefix a loader fetches, in bytes; a larger one "
        "fails the job. Default: 1 TB (10**12 bytes).",
    )

    max_unpacked_bytes = Int(
        DEFAULT_MAX_UNPACKED_BYTES,
        config=True,
        help=(
            "Most bytes the unpack processor writes from one archive: the sizes a tar or zip "
            "declares are added up before anything is written, and what is decompressed is "
            "counted while it is written, so an archive bomb fails the job, with this "
            "setting named, and the layer keeps its previous version. Default: 1 TB "
            "(10**12 bytes). Keep it below the free space of the store's filesystem."
        ),
    )

    max_unpacked_files = Int(
        DEFAULT_MAX_UNPACKED_FILES,
        config=True,
        help=(
            "Most members (files, folders and links) the unpack processor accepts in one "
            "archive, counted from its headers before anything is written; a larger "
            "archive fails the job. Default: 10,000,000."
        ),
    )

    allowed_source_hosts = List(
        Unicode(),
        default_value=[],
        config=True,
        help=(
            "Non-public hosts that http(s) loader sources may download from: host names "
            "('files.internal.example'), IP addresses ('127.0.0.1') or CIDR networks "
            "('10.0.0.0/8'). Any other host that is, or resolves to, a loopback, link-local "
            "(such as the cloud metadata service 169.254.169.254), private, multicast, "
            "reserved or other non-public address is refused, also after a redirect. "
            "Default: empty, so only public addresses are reached."
        ),
    )

    disk_reserve = Union(
        [Int(), Unicode()],
        default_value=DEFAULT_DISK_RESERVE,
        config=True,
        help="Free space kept on the store's disk: bytes, a size such as '5GB' or '5GiB' "
        "or a share such as '10%'. A job is not started unless the space it is known to "
        "need plus this reserve is free, and is stopped (staging freed, layer as it was) once "
        "free space drops below it. Default: '1GiB'; 0 turns it off.",
    )

    @validate("max_download_bytes", "max_unpacked_bytes", "max_unpacked_files")
    def _validate_limit(self, proposal: Any) -> Any:
        return not_negative(proposal)

    @validate("allowed_source_hosts")
    def _validate_allowed_source_hosts(self, proposal: Any) -> list[str]:
        try:
            return check_allowed_hosts(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(exc.message) from exc

    @validate("disk_reserve")
    def _validate_disk_reserve(self, proposal: Any) -> Any:
        try:
            parse_reserve(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(exc.message) from exc
        return proposal["value"]
