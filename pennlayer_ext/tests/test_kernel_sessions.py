"""Kernel sessions through the manager: what a provisioner may ask, and of whose session."""

import os

import pytest

from pennlayer_ext.core import InvalidInput, NotFound

from .helpers import add_reference_version


@pytest.fixture
def node(pl_manager):
    pl_manager.create_layer("env", "environment")
    add_reference_version(pl_manager, "env", {"bin/python": "#!"})
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\n"})
    return pl_manager


def _open(manager, user="ursula", **fields):
    request = {"kernel_id": "k-1", "environment": "env", "backend": "none", **fields}
    return manager.open_kernel_session(request, user=user)


def test_an_opened_session_gives_the_mounts_and_is_its_users(node):
    opened = _open(node, layers=["genome"], notebook_path="/home/ursula/a.ipynb", token=True)
    assert opened["environment"]["name"] == "env"
    assert [m["name"] for m in opened["references"]] == ["genome"]
    genome = node.get_layer("genome")
    assert opened["references"][0]["path"] == str(
        node.store.version_dir("genome", genome["version"])
    )
    assert opened["token"].startswith("pls_")
    assert node.session_of_token(opened["token"])["user"] == "ursula"
    assert opened["session_dir"] == str(node.store.session_dir(opened["session_id"]))
    [session] = node.list_sessions(active=True)
    assert (session["id"], session["user"]) == (opened["session_id"], "ursula")


def test_another_user_can_neither_record_nor_close_it(node):
    opened = _open(node)
    for call in (
        lambda: node.record_kernel_process(opened["session_id"], os.getpid(), user="gus"),
        lambda: node.close_kernel_session(opened["session_id"], reason="x", user="gus"),
    ):
        with pytest.raises(NotFound, match="No active session"):
            call()
    assert node.list_sessions(active=True)[0]["id"] == opened["session_id"]
    node.record_kernel_process(opened["session_id"], os.getpid(), user="ursula")
    installs = [{"name": "plslow", "version": "1.0"}]
    node.close_kernel_session(
        opened["session_id"], reason="kernel stopped", live_installs=installs, user="ursula"
    )
    # Closing twice is no error (a restored provisioner may close what a restart closed).
    node.close_kernel_session(opened["session_id"], reason="kernel stopped", user="ursula")
    [ended] = node.list_sessions(active=False)
    assert (ended["end_reason"], ended["live_installs"]) == ("kernel stopped", installs)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backend": "chroot"}, "backend must be one of bwrap, docker, none"),
        ({"kernel_id": "../../x"}, "kernel_id must be 1 to 64 letters"),
        ({"layers": "genome"}, "layers must be a list of layer names"),
        ({"pins": ["x"]}, "pins must be an object"),
        ({"layers": ["../etc"]}, "name"),
        ({"extra": 1}, "Unknown field"),
        ({"environment": "genome"}, "is a reference layer, not a"),
    ],
)
def test_bad_requests_are_refused_and_record_nothing(node, fields, message):
    with pytest.raises(InvalidInput, match=message):
        _open(node, **fields)
    assert node.list_sessions() == []


def test_bad_closes_and_processes_are_refused(node):
    opened = _open(node)
    with pytest.raises(InvalidInput, match="pid must be a process id"):
        node.record_kernel_process(opened["session_id"], -1, user="ursula")
    with pytest.raises(InvalidInput, match="live_installs"):
        node.close_kernel_session(
            opened["session_id"], reason="x", live_installs=["plfast"], user="ursula"
        )
    with pytest.raises(NotFound):
        node.close_kernel_session("../" + opened["session_id"], reason="x", user="ursula")
    assert node.list_sessions(active=True)[0]["id"] == opened["session_id"]
