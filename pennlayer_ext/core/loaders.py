"""Loaders for reference layers: fetch the source, run the processor, stage a version.

Steps: the source is fetched into ``staging/<job>/input`` (a local source is used where
it is, read-only), the processor writes ``staging/<job>/output``, mode ``add`` merges the
previous version in by hard links, and the result is committed as the next version.
Nothing outside the staging folder changes before the commit. The kinds of source are
in ``sources/``, the processors in ``processors/``; this module only runs the steps.
"""

from __future__ import annotations

import os
from pathlib import Path

from .digest import summarize_tree
from .load_progress import STEPS
from .processors import ProcessStep, get_processor
from .recipes import stored_recipe
from .runner import JobContext
from .sources import get_source


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
    source = origin.fetch(ctx, recipe, inbox, settings)

    ctx.progress("process", 2, STEPS, f"Processing ({spec['type']})")
    get_processor(spec["type"]).run(
        ProcessStep(ctx, source, output, spec, previous=previous, in_place=origin.in_place)
    )
    output.mkdir(parents=True, exist_ok=True)

    if previous is not None and previous.is_dir():
        merge_previous(ctx, previous, output)

    ctx.progress("digest", 4, STEPS, "Computing the digest, size and file count")
    summary = summarize_tree(output, hash_cache=ctx.store.hash_cache_path)
    ctx.progress("commit", 5, STEPS, "Making the new version current")
    version = ctx.commit_version(
        output, summary, layer_fields={"recipe": stored_recipe(recipe)}, version_fields={}
    )
    ctx.log(f"version {version}: {summary.file_count} files, {summary.digest}")
