"""Loaders for reference layers: fetch the source, run the processor, stage a version.

Steps: the source is fetched into ``staging/<job>/input`` (a local source is used where
it is, read-only), the processor writes ``staging/<job>/output``, mode ``add`` merges the
previous version in by hard links, and the result is committed as the next version.
Nothing outside the staging folder changes before the commit.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import stat
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .digest import HashCache, summarize_tree
from .runner import JobContext, StepFailed

STEPS = 5
_CHUNK = 1024 * 1024


class Progress:
    """Bytes and files done, written to the job at most twice a second."""

    def __init__(self, ctx: JobContext, phase: str, step: int, message: str) -> None:
        self.ctx, self.phase, self.step, self.message = ctx, phase, step, message
        self.bytes_done = 0
        self.files_done = 0
        self.bytes_total: int | None = None
        self._last = 0.0
        self._last_logged = 0.0

    def add(self, nbytes: int = 0, files: int = 0) -> None:
        self.bytes_done += nbytes
        self.files_done += files
        self.ctx.check_stop()
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            self.flush()

    def flush(self) -> None:
        extra: dict[str, Any] = {"bytes_done": self.bytes_done, "files_done": self.files_done}
        if self.bytes_total is not None:
            extra["bytes_total"] = self.bytes_total
        self.ctx.progress(self.phase, self.step, STEPS, self.message, quiet=True, **extra)
        now = time.monotonic()
        if now - self._last_logged >= 5.0 or self.bytes_done == self.bytes_total:
            self._last_logged = now
            total = f" of {self.bytes_total}" if self.bytes_total is not None else ""
            self.ctx.log(f"{self.message}: {self.bytes_done}{total} bytes, {self.files_done} files")


# -- sources ---------------------------------------------------------------------------


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise StepFailed(f"The server redirected to {newurl!r}, which is not http(s).")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_http(ctx: JobContext, url: str, inbox: Path, limit: int, sha256: str | None) -> Path:
    name = PurePosixPath(urlsplit(url).path).name or "download"
    if name in (".", ".."):
        name = "download"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / name
    opener = urllib.request.build_opener(_SameSchemeRedirects)
    progress = Progress(ctx, "fetch", 1, f"Downloading {url}")
    digest = hashlib.sha256()
    try:
        with opener.open(url, timeout=60) as response, target.open("wb") as out:
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                if int(length) > limit:
                    raise StepFailed(
                        f"{url} is {int(length)} bytes, over the download limit of {limit}."
                    )
                progress.bytes_total = int(length)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                progress.add(len(chunk))
                if progress.bytes_done > limit:
                    raise StepFailed(f"{url} is over the download limit of {limit} bytes.")
    except urllib.error.HTTPError as exc:
        raise StepFailed(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StepFailed(f"Downloading {url} failed: {reason}.") from exc
    progress.add(files=1)
    progress.flush()
    if sha256 is not None and digest.hexdigest() != sha256:
        raise StepFailed(
            f"The download's sha256 is {digest.hexdigest()}, not the expected {sha256}."
        )
    return target


def fetch_s3(ctx: JobContext, source: str, inbox: Path, settings: dict[str, Any]) -> Path:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(source)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.get("s3_endpoint_url") or None,
        region_name=settings.get("s3_region") or None,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )
    progress = Progress(ctx, "fetch", 1, f"Downloading {source}")
    objects: list[tuple[str, int]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects += [(item["Key"], item["Size"]) for item in page.get("Contents", [])]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise StepFailed(f"The bucket {bucket!r} does not exist.") from exc
        raise StepFailed(f"Listing {source} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise StepFailed(f"Listing {source} failed: {exc}") from exc
    objects = [(key, size) for key, size in objects if not key.endswith("/")]
    if not objects:
        raise StepFailed(f"There are no objects under {source}.")
    progress.bytes_total = sum(size for _, size in objects)
    limit = int(settings["max_download_bytes"])
    if progress.bytes_total > limit:
        raise StepFailed(f"{source} holds {progress.bytes_total} bytes, over the limit {limit}.")
    base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
    if len(objects) == 1 and objects[0][0] == prefix:
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    plan = []
    for key, size in objects:
        rel = PurePosixPath(key[len(base) :] if key.startswith(base) else key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise StepFailed(f"The object key {key!r} would land outside the layer.")
        plan.append((key, inbox.joinpath(*rel.parts), size))
    transfer = TransferConfig(
        max_concurrency=4, multipart_threshold=64 * 1024**2, multipart_chunksize=16 * 1024**2
    )

    def download(item: tuple[str, Path, int]) -> None:
        key, target, _size = item
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(
            bucket, key, str(target), Config=transfer, Callback=lambda n: progress.add(n)
        )
        progress.add(files=1)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(download, item) for item in plan]:
                future.result()
    except (ClientError, BotoCoreError) as exc:
        raise StepFailed(f"Downloading {source} failed: {exc}") from exc
    progress.flush()
    return inbox


# -- processors ------------------------------------------------------------------------


def copy_tree(ctx: JobContext, src: Path, dst: Path, previous: Path | None) -> None:
    """Copy *src* (a file or a tree) into *dst*; symlinks are copied as links, never followed.

    Files are copied by a few threads at once, hashing each chunk on the way, so the
    digest needs no second read; the hashes go to the store's hash cache. With
    *previous*, a file whose size and modification time match the previous version's file
    at the same path is hard-linked from it instead of copied.
    """
    progress = Progress(ctx, "process", 2, "Copying")
    entries: list[tuple[str | Path, list[str], list[str]]]
    if src.is_file():
        entries = [(src.parent, [], [src.name])]
        base = src.parent
    else:
        entries = list(os.walk(src))
        base = src
    files: list[tuple[Path, Path, os.stat_result, Path | None]] = []
    for top, dirs, names in entries:
        rel_dir = Path(top).relative_to(base)
        out_dir = dst / rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in dirs:
            if (Path(top) / name).is_symlink():
                os.symlink(os.readlink(Path(top) / name), out_dir / name)
        for name in names:
            source = Path(top) / name
            info = source.lstat()
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(source), out_dir / name)
            elif stat.S_ISREG(info.st_mode):  # sockets, fifos, devices have no place here
                old = previous / rel_dir / name if previous is not None else None
                files.append((source, out_dir / name, info, old))
    progress.bytes_total = sum(info.st_size for _, _, info, _ in files)
    cache = HashCache(ctx.store.hash_cache_path)
    lock = threading.Lock()

    def copy_one(item: tuple[Path, Path, os.stat_result, Path | None]) -> None:
        source, target, info, old = item
        if old is not None and _same_file(old, info):
            os.link(old, target)
        else:
            digest = hashlib.sha256()
            with source.open("rb") as reader, target.open("wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    with lock:
                        progress.add(len(chunk))
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
            os.chmod(target, 0o755 if info.st_mode & 0o111 else 0o644)
            with lock:
                cache.put(target.stat(), digest.hexdigest())
        with lock:
            progress.add(files=1)

    try:
        with ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 2) * 2)) as pool:
            for future in [pool.submit(copy_one, item) for item in files]:
                future.result()
    finally:
        cache.close()
    progress.flush()


def _same_file(old: Path, info: os.stat_result) -> bool:
    try:
        previous = old.lstat()
    except OSError:
        return False
    return (
        stat.S_ISREG(previous.st_mode)
        and previous.st_size == info.st_size
        and previous.st_mtime_ns == info.st_mtime_ns
    )


def _single_file(path: Path) -> Path:
    if path.is_file():
        return path
    files = [p for p in path.rglob("*") if p.is_file()]
    if len(files) != 1:
        raise StepFailed(
            f"The unpack processor needs one archive; the source has {len(files)} files."
        )
    return files[0]


def _archive_format(path: Path, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    name = path.name.lower()
    for suffix, fmt in (
        (".tar.gz", "tar.gz"),
        (".tgz", "tar.gz"),
        (".tar", "tar"),
        (".zip", "zip"),
        (".gz", "gz"),
    ):
        if name.endswith(suffix):
            return fmt
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise StepFailed(f"{path.name} is not a tar, tar.gz, zip or gz archive.")


def unpack(ctx: JobContext, src: Path, dst: Path, wanted: str) -> None:
    archive = _single_file(src)
    fmt = _archive_format(archive, wanted)
    ctx.progress("process", 2, STEPS, f"Unpacking {archive.name} ({fmt})")
    dst.mkdir(parents=True, exist_ok=True)
    try:
        if fmt in ("tar", "tar.gz"):
            with tarfile.open(archive, "r:*") as tar:
                for member in tar.getmembers():
                    _check_tar_member(member)
                    ctx.check_stop()
                tar.extractall(dst, filter="data")
        elif fmt == "zip":
            with zipfile.ZipFile(archive) as zipped:
                for info in zipped.infolist():
                    _check_zip_member(info)
                zipped.extractall(dst)  # noqa: S202 (every member was checked above)
        else:
            target = dst / (archive.name[:-3] if archive.name.endswith(".gz") else archive.name)
            with gzip.open(archive, "rb") as source, target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    ctx.check_stop()
    except tarfile.FilterError as exc:
        raise StepFailed(f"Refused archive member: {exc}; nothing was loaded.") from exc
    except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError) as exc:
        raise StepFailed(f"{archive.name} is not a valid {fmt} archive: {exc}") from exc


def _check_tar_member(member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise StepFailed(
            f"Refused archive member {member.name!r}: an absolute path or '..' would land "
            "outside the layer; nothing was loaded."
        )
    if not (member.issym() or member.islnk()):
        return
    target = PurePosixPath(member.linkname)
    if target.is_absolute() or ".." in target.parts:
        raise StepFailed(
            f"Refused archive member {member.name!r}: a link to {member.linkname!r} would "
            "point outside the layer; nothing was loaded."
        )


def _check_zip_member(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
        raise StepFailed(
            f"Refused archive member {info.filename!r}: it would land outside the layer; "
            "nothing was loaded."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise StepFailed(f"Refused archive member {info.filename!r}: links are not allowed.")


def run_command(ctx: JobContext, src: Path, dst: Path, command: str) -> None:
    from .sandbox import processor_command

    dst.mkdir(parents=True, exist_ok=True)
    ctx.progress("process", 2, STEPS, "Running the command in the sandbox")
    ctx.run(processor_command(src, dst, command), what="The command")


def run_docker(ctx: JobContext, src: Path, dst: Path, processor: dict[str, Any]) -> None:
    import docker
    import requests
    from docker.errors import DockerException, ImageNotFound

    dst.mkdir(parents=True, exist_ok=True)
    ctx.progress("process", 2, STEPS, f"Running {processor['image']} in Docker")
    try:
        client = docker.from_env()
        client.images.get(processor["image"])
    except ImageNotFound as exc:
        raise StepFailed(
            f"The image {processor['image']!r} does not exist on this node's Docker engine."
        ) from exc
    except DockerException as exc:
        raise StepFailed(f"The Docker engine is not reachable: {exc}") from exc
    name = container_name(ctx.job_id)
    command = ["sh", "-c", processor["command"]] if processor.get("command") else None
    container = None
    try:
        container = client.containers.run(
            processor["image"],
            command=command,
            name=name,
            labels={"pennlayer.job": ctx.job_id},
            detach=True,
            volumes={
                str(src): {"bind": "/input", "mode": "ro"},
                str(dst): {"bind": "/output", "mode": "rw"},
            },
            working_dir="/output",
            network_mode="host" if processor.get("network") else "none",
            mem_limit=processor.get("memory", "2g"),
            nano_cpus=int(float(processor.get("cpus", 1.0)) * 1e9),
            user=f"{os.getuid()}:{os.getgid()}",
        )
        while True:
            ctx.check_stop()
            try:
                result = container.wait(timeout=0.5)
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass  # still running: wait again, so that a cancel is seen within 0.5 s
        print(container.logs().decode("utf-8", "replace"), end="", flush=True)
        if result.get("StatusCode") != 0:
            raise StepFailed(f"The container exited with status {result.get('StatusCode')}.")
    except DockerException as exc:
        raise StepFailed(f"Running the container failed: {exc}") from exc
    finally:
        remove_container(ctx.job_id)


def container_name(job_id: str) -> str:
    return f"pennlayer-{job_id}"


def remove_container(job_id: str) -> None:
    """Remove a job's container if it exists (best effort: the engine may be gone)."""
    try:
        import docker
        from docker.errors import DockerException, NotFound

        with contextlib.suppress(NotFound):
            docker.from_env().containers.get(container_name(job_id)).remove(force=True)
    except (ImportError, DockerException):
        pass


# -- mode add --------------------------------------------------------------------------


def merge_previous(ctx: JobContext, previous: Path, new: Path) -> None:
    """Hard-link every file of *previous* that *new* does not have into *new*."""
    ctx.progress("merge", 3, STEPS, "Adding the previous version's files (hard links)")
    for top, dirs, names in os.walk(previous):
        rel = Path(top).relative_to(previous)
        out_dir = new / rel
        if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
            dirs[:] = []
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in names + [d for d in dirs if (Path(top) / d).is_symlink()]:
            source, target = Path(top) / name, out_dir / name
            if target.exists() or target.is_symlink():
                continue
            if source.is_symlink():
                os.symlink(os.readlink(source), target)
            else:
                os.link(source, target)
        ctx.check_stop()


# -- the job ---------------------------------------------------------------------------


def run_populate(ctx: JobContext) -> None:
    recipe = ctx.params["recipe"]
    settings = ctx.params["settings"]
    processor = recipe["processor"]
    inbox = ctx.staging / "input"
    output = ctx.staging / "output"
    previous: Path | None = None
    if recipe["mode"] == "add" and ctx.params.get("previous_version") is not None:
        previous = ctx.store.version_dir(ctx.job["layer"], ctx.params["previous_version"])

    ctx.progress("fetch", 1, STEPS, f"Fetching {recipe['source']}")
    if recipe["source_kind"] == "local":
        source = Path(os.path.realpath(recipe["source"]))
        if not source.exists():
            raise StepFailed(f"The source {recipe['source']!r} no longer exists.")
    elif recipe["source_kind"] == "http":
        source = fetch_http(
            ctx, recipe["source"], inbox, int(settings["max_download_bytes"]), recipe.get("sha256")
        )
    else:
        source = fetch_s3(ctx, recipe["source"], inbox, settings)

    kind = processor["type"]
    ctx.progress("process", 2, STEPS, f"Processing ({kind})")
    if kind == "copy":
        if recipe["source_kind"] == "local":
            copy_tree(ctx, source, output, previous)
        elif source.is_file():
            output.mkdir(parents=True, exist_ok=True)
            os.rename(source, output / source.name)
        else:
            os.rename(source, output)
    elif kind == "unpack":
        unpack(ctx, source, output, processor.get("format", "auto"))
    elif kind == "command":
        run_command(ctx, source, output, processor["command"])
    else:
        run_docker(ctx, source, output, processor)
    output.mkdir(parents=True, exist_ok=True)

    if previous is not None and previous.is_dir():
        merge_previous(ctx, previous, output)

    ctx.progress("digest", 4, STEPS, "Computing the digest, size and file count")
    summary = summarize_tree(output, hash_cache=ctx.store.hash_cache_path)
    ctx.progress("commit", 5, STEPS, "Making the new version current")
    version = ctx.commit_version(
        output, summary, layer_fields={"recipe": _stored_recipe(recipe)}, version_fields={}
    )
    ctx.log(f"version {version}: {summary.file_count} files, {summary.digest}")


def _stored_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in recipe.items() if key != "source_kind"}
