"""A local source swapped for a link between the worker's check and the sandbox's or the
container's mount: the command and docker processors read what the worker opened (the
attack of a user who can write a folder on the source's path, on a shared node)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from pennlayer_ext.core.processors.docker import create_container, start_behind_gate
from pennlayer_ext.core.processors.nofollow import open_path
from pennlayer_ext.core.runner import StepFailed
from pennlayer_ext.core.sandbox import bwrap_works, processor_command

from .helpers import docker_client, populate


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    """A source folder inside the allowed roots and a private folder outside them."""
    source = tmp_path / "roots" / "genome"
    source.mkdir(parents=True)
    (source / "chr1.fa").write_text(">chr1\nACGT\n")
    private = tmp_path / "private"
    private.mkdir()
    (private / "id_rsa").write_text("not for the loader")
    return source, private


def _swap_for_link(source: Path, target: Path) -> None:
    """What the attacker does once the worker has checked the path."""
    source.rename(source.with_name("genome-before"))
    source.symlink_to(target)


@pytest.mark.skipif(not bwrap_works(), reason="the command processor needs bubblewrap")
def test_the_command_reads_the_folder_that_was_opened_not_a_link_swapped_in(tmp_path):
    source, private = _planted(tmp_path)
    opened = open_path(source)
    source_fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(opened)
    _swap_for_link(source, private)
    output = tmp_path / "output"
    output.mkdir()
    try:
        argv = processor_command(source_fd, output, "ls /input > /output/seen")
        subprocess.run(argv, pass_fds=(source_fd,), check=True, timeout=60)
    finally:
        os.close(source_fd)
    assert (output / "seen").read_text().split() == ["chr1.fa"]
    # The path itself now leads to the private folder: binding it would have shown that.
    assert sorted(os.listdir(source)) == ["id_rsa"]


@pytest.fixture
def pl_extra_config(source_root):
    return {"PennLayerApp": {"allowed_source_roots": [str(source_root)]}}


@pytest.fixture
def docker(busybox_image):
    client = docker_client()
    yield client
    client.close()


def _run_behind_gate(docker, image, source, expected, output, job_id):
    container = create_container(
        docker,
        image,
        ["sh", "-c", "ls /input > /output/seen"],
        source,
        output,
        {},
        job_id,
    )
    try:
        start_behind_gate(container, source, expected)
        return container.wait(timeout=60)["StatusCode"]
    finally:
        container.remove(force=True)


def test_a_container_given_a_swapped_source_is_removed_unrun(tmp_path, docker, busybox_image):
    source, private = _planted(tmp_path)
    output = tmp_path / "output"
    output.mkdir(mode=0o777)

    # Unswapped: the gate opens and the command sees the source.
    fd = open_path(source)
    try:
        status = _run_behind_gate(docker, busybox_image, source, os.fstat(fd), output, "t-ok")
    finally:
        os.close(fd)
    assert status == 0
    assert (output / "seen").read_text().split() == ["chr1.fa"]
    (output / "seen").unlink()

    # Swapped after the open: the engine mounts the private folder by the path's new
    # meaning, the gate sees it is not what was opened, and the command never runs.
    fd = open_path(source)
    try:
        expected = os.fstat(fd)
        _swap_for_link(source, private)
        with pytest.raises(StepFailed, match="no longer the folder or file that was checked"):
            _run_behind_gate(docker, busybox_image, source, expected, output, "t-swapped")
    finally:
        os.close(fd)
    assert list(output.iterdir()) == []
    left = docker.containers.list(all=True, filters={"name": "pennlayer-t-"})
    assert left == []


async def test_an_image_runs_its_own_command_behind_the_gate(
    pl_api, pl_wait_job, pl_store, source_root, docker, busybox_image
):
    # An image with a command of its own (no 'command' in the request): the gate runs it
    # once /input is checked, with no standard input (a read sees its end at once).
    own = "pennlayer-test-own-command:1"
    container = docker.containers.create(busybox_image, command=["true"])
    try:
        container.commit(
            "pennlayer-test-own-command",
            "1",
            changes=['CMD ["sh", "-c", "read -r x; cp -r /input/. /output/ && echo ran > r"]'],
        )
    finally:
        container.remove(force=True)
    response = await populate(
        pl_api,
        "own",
        {"source": str(source_root / "genome"), "processor": {"type": "docker", "image": own}},
    )
    assert response.status == 202, response.body
    job = await pl_wait_job(response.body["id"])
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "own" / "1"
    assert (version / "r").read_text() == "ran\n"
    assert (version / "chr1.fa").exists()
