"""Every object under an S3 prefix, downloaded a few at a time."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..runner import StepFailed
from . import Source

if TYPE_CHECKING:
    from ..runner import JobContext

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Up to 8 objects at a time; a big one in ranged parts over up to 8 connections (as the
# cold store's transfers), several big ones over at least 2 each: at most 16 in all.
_FILES_AT_ONCE = 8
_CONNECTIONS = 16


class S3Source(Source):
    """s3://bucket/prefix: the objects under the prefix, keeping their paths below it.

    The endpoint and region come from the node's loader settings; credentials come from
    the usual boto3 places (environment, profile, instance role), never from the recipe.
    """

    name = "s3"
    describe = "an s3://bucket/prefix"
    label = "s3"

    @staticmethod
    def matches(source: str) -> bool:
        return urlsplit(source).scheme.lower() == "s3"

    def check(
        self,
        source: str,
        *,
        allowed_roots: Iterable[str],
        store_root: Path | str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        parts = urlsplit(source)
        if not _BUCKET_RE.fullmatch(parts.netloc or ""):
            raise InvalidInput(f"{source!r} does not name a valid S3 bucket (s3://bucket/prefix).")
        if ".." in parts.path.split("/"):
            raise InvalidInput("An S3 prefix must not contain '..'.")

    def fetch(
        self, ctx: JobContext, recipe: Mapping[str, Any], inbox: Path, settings: Mapping[str, Any]
    ) -> Path:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        source: str = recipe["source"]
        parts = urlsplit(source)
        bucket, prefix = parts.netloc, parts.path.lstrip("/")
        client = boto3.client(
            "s3",
            endpoint_url=settings.get("s3_endpoint_url") or None,
            region_name=settings.get("s3_region") or None,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3},
                max_pool_connections=_CONNECTIONS,
            ),
        )
        progress = self.meter(ctx, f"Downloading {source}")
        objects: list[tuple[str, int]] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                objects += [(item["Key"], item["Size"]) for item in page.get("Contents", [])]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise StepFailed(f"The bucket {bucket!r} does not exist.") from exc
            raise StepFailed(f"Listing {source} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StepFailed(f"Listing {source} failed: {exc}") from exc
        # Keys ending in '/' are folder markers that consoles create, not files.
        objects = [(key, size) for key, size in objects if not key.endswith("/")]
        if not objects:
            raise StepFailed(f"There are no objects under {source}.")
        progress.bytes_total = sum(size for _, size in objects)
        limit = int(settings["max_download_bytes"])
        if progress.bytes_total > limit:
            raise StepFailed(
                f"{source} holds {progress.bytes_total} bytes, over the limit {limit}."
            )
        ctx.ensure_room(progress.bytes_total, source)
        plan = _plan(objects, prefix, inbox)
        transfer = TransferConfig(
            max_concurrency=max(2, _FILES_AT_ONCE // min(len(plan), _FILES_AT_ONCE)),
            multipart_threshold=64 * 1024**2,
            multipart_chunksize=16 * 1024**2,
        )

        def download(item: tuple[str, Path]) -> None:
            key, target = item
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(
                bucket, key, str(target), Config=transfer, Callback=lambda n: progress.add(n)
            )
            progress.add(files=1)

        try:
            with ThreadPoolExecutor(max_workers=_FILES_AT_ONCE) as pool:
                for future in [pool.submit(download, item) for item in plan]:
                    future.result()
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(f"Downloading {source} failed: {exc}") from exc
        progress.flush()
        return inbox


def _plan(objects: list[tuple[str, int]], prefix: str, inbox: Path) -> list[tuple[str, Path]]:
    """Where each object lands: its key below the prefix's folder, inside *inbox*."""
    base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
    if len(objects) == 1 and objects[0][0] == prefix:
        # The prefix names one object exactly: it lands as a file named after its key.
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    plan = []
    for key, _size in objects:
        rel = PurePosixPath(key[len(base) :] if key.startswith(base) else key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise StepFailed(f"The object key {key!r} would land outside the layer.")
        plan.append((key, inbox.joinpath(*rel.parts)))
    return plan
