"""Loaders for reference layers: fetch the source, run the processor, stage a version.

Steps: the source is fetched into ``staging/<job>/input`` (a local source is used where
it is, read-only), the processor writes ``staging/<job>/output``, mode ``add`` merges the
previous version in by hard links (never looking through a link), and the result is
committed as the next version. Nothing outside the staging folder changes before the
commit. The kinds of source are in ``sources/``, the processors in ``processors/``; this
module only runs the steps.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from .digest import summarize_tree
from .load_progress import STEPS
from .processors import ProcessStep, get_processor
from .processors.nofollow import list_dir, open_real, try_lstat, try_open_dir
from .recipes import stored_recipe
from .runner import JobContext
from .sources import get_source


def merge_previous(ctx: JobContext, previous: Path, new: Path) -> None:
    """Hard-link every file of *previous* that *new* does not have into *new*.

    Both trees are read by directory descriptors, never through a link: links of the
    previous version are copied as links, only regular files are hard-linked
    (``follow_symlinks=False``), and a folder is entered only where both versions have a
    real folder (not a link) or *new* has nothing yet.
    """
    ctx.progress("merge", 3, STEPS, "Adding the previous version's files (hard links)")
    old_fd, new_fd = open_real(previous), open_real(new)
    try:
        _merge(ctx, old_fd, new_fd, PurePosixPath())
    finally:
        os.close(old_fd)
        os.close(new_fd)


def _merge(ctx: JobContext, old_fd: int, new_fd: int, rel: PurePosixPath) -> None:
    ctx.check_stop()
    for name, info in list_dir(old_fd, rel):
        there = try_lstat(new_fd, name)
        if stat.S_ISDIR(info.st_mode):
            if there is None:
                os.mkdir(name, dir_fd=new_fd)
            elif not stat.S_ISDIR(there.st_mode):
                continue  # the new version has a file or a link there: it wins
            old_child, new_child = try_open_dir(old_fd, name), try_open_dir(new_fd, name)
            try:
                if old_child is not None and new_child is not None:
                    _merge(ctx, old_child, new_child, rel / name)
            finally:
                for fd in (old_child, new_child):
                    if fd is not None:
                        os.close(fd)
        elif there is not None:
            continue
        elif stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(name, dir_fd=old_fd), name, dir_fd=new_fd)
        elif stat.S_ISREG(info.st_mode):
            os.link(name, name, src_dir_fd=old_fd, dst_dir_fd=new_fd, follow_symlinks=False)


def run_populate(ctx: JobContext) -> None:
    """The populate job: fetch, process, merge (mode ``add``), digest, commit."""
    recipe = ctx.params["recipe"]
    settings = ctx.params["settings"]
    spec = recipe["processor"]
    inbox = ctx.staging / "input"
    output = ctx.staging / "output"
    previous: Path | None = None
    if recipe["mode"] == "add" and ctx.params.get("previous_version") is not None:
        previous = ctx.store.version_dir(ctx.job["layer"], ctx.params["previous_version"])

    origin = get_source(recipe["source_kind"])
    ctx.progress("fetch", 1, STEPS, f"Fetching {recipe['source']}")
    ctx.flush_early()  # the new version goes to disk as it is written, not all at the commit
    source = origin.fetch(ctx, recipe, inbox, settings)

    ctx.progress("process", 2, STEPS, f"Processing ({spec['type']})")
    get_processor(spec["type"]).run(
        ProcessStep(
            ctx,
            source,
            output,
            spec,
            previous=previous,
            in_place=origin.in_place,
            settings=settings,
        )
    )
    output.mkdir(parents=True, exist_ok=True)

    if previous is not None and previous.is_dir():
        merge_previous(ctx, previous, output)

    ctx.progress("digest", 4, STEPS, "Computing the digest, size and file count")
    # Read-only in the digest's own walk (modes are part of it): the commit need not redo it.
    summary = summarize_tree(output, hash_cache=ctx.store.hash_cache_path, seal=True)
    ctx.progress("commit", 5, STEPS, "Making the new version current")
    ctx.commit_version(
        output, summary, layer_fields={"recipe": stored_recipe(recipe)}, version_fields={}
    )
