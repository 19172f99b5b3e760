"""A cold store in S3 or any S3-compatible service: ``s3://bucket/prefix``.

Objects are written in the STANDARD_IA storage class, in parallel multipart transfers
(boto3's TransferConfig), with the version's digest in their metadata. The endpoint and
region are the node's S3 settings (``PennLayerApp.s3_endpoint_url``, ``s3_region``);
credentials come from boto3's standard chain (environment, ~/.aws, instance role).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput
from . import ColdStore, ColdStoreError, OnBytes, StoredObject, write_note

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
STORAGE_CLASS = "STANDARD_IA"
DIGEST_METADATA = "pennlayer-digest"
# Parts of 16 MiB, 8 at a time: a 1 GB archive moves as 64 parts over 8 connections.
_PART_BYTES = 16 * 1024**2
_CONCURRENCY = 8


class S3ColdStore(ColdStore):
    name = "s3"
    describe = "an s3://bucket/prefix URL"

    @staticmethod
    def matches(spec: str) -> bool:
        return urlsplit(spec).scheme.lower() == "s3"

    @staticmethod
    def check(spec: str) -> str:
        parts = urlsplit(spec)
        if not _BUCKET_RE.fullmatch(parts.netloc or ""):
            raise InvalidInput(f"{spec!r} does not name a valid S3 bucket (s3://bucket/prefix).")
        prefix = parts.path.strip("/")
        if ".." in prefix.split("/") or parts.query or parts.fragment:
            raise InvalidInput(f"{spec!r} is not a plain s3://bucket/prefix URL.")
        return f"s3://{parts.netloc}/{prefix}" if prefix else f"s3://{parts.netloc}"

    def __init__(self, spec: str, settings: Any) -> None:
        super().__init__(spec, settings)
        parts = urlsplit(spec)
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.settings.get("s3_endpoint_url") or None,
                region_name=self.settings.get("s3_region") or None,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 5, "mode": "standard"},
                    max_pool_connections=_CONCURRENCY * 2,
                ),
            )
        return self._client

    @staticmethod
    def _transfer() -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=_PART_BYTES,
            multipart_chunksize=_PART_BYTES,
            max_concurrency=_CONCURRENCY,
        )

    def _fail(self, what: str, exc: Exception) -> ColdStoreError:
        return ColdStoreError(f"{what} {self.spec} failed: {exc}")

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail("Reading the cold store", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("Reading the cold store", exc) from exc
        metadata = found.get("Metadata") or {}
        return StoredObject(int(found["ContentLength"]), metadata.get(DIGEST_METADATA))

    def put(
        self,
        path: Path,
        key: str,
        digest: str,
        on_bytes: OnBytes | None = None,
        *,
        note: Path | None = None,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        def started(parsed: Any = None, **_: Any) -> None:
            # The parts of an upload that never completes are kept (and billed) until it
            # is aborted: the note lets a later check abort it if this process is killed.
            if note is not None and isinstance(parsed, dict) and parsed.get("UploadId"):
                upload = {"key": self.prefix + key, "upload_id": parsed["UploadId"]}
                write_note(note, {"store": self.spec, **upload})

        events = self.client.meta.events
        event = "after-call.s3.CreateMultipartUpload"
        events.register(event, started, unique_id="pennlayer-unfinished-upload")
        try:
            # A multipart upload becomes the object only when it completes: whole or absent.
            self.client.upload_file(
                str(path),
                self.bucket,
                self.prefix + key,
                ExtraArgs={"StorageClass": STORAGE_CLASS, "Metadata": {DIGEST_METADATA: digest}},
                Config=self._transfer(),
                Callback=on_bytes,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("Uploading the archive to", exc) from exc
        finally:
            events.unregister(event, unique_id="pennlayer-unfinished-upload")
        if note is not None:
            note.unlink(missing_ok=True)  # kept after a failure: boto3's abort may have failed

    def forget(self, note: Mapping[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key, upload_id = note.get("key"), note.get("upload_id")
        if not isinstance(key, str) or not isinstance(upload_id, str):
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("NoSuchUpload", "404", "NotFound"):
                raise self._fail("Aborting an unfinished upload to", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("Aborting an unfinished upload to", exc) from exc

    def get(self, key: str, dest: Path, on_bytes: OnBytes | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.download_file(
                self.bucket,
                self.prefix + key,
                str(dest),
                Config=self._transfer(),
                Callback=on_bytes,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"Downloading the archive {key} from", exc) from exc

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
