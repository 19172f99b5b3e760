"""Live installs a caller reports for an overlay it keeps (a person's server on a node
service): checked as hostile input before a name or version reaches a requirement line."""

import platform

import pytest

from pennlayer_ext.core import InvalidInput
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.live import checked_installs, overlay_installs
from pennlayer_ext.core.versions import commit_version

SITE = f"lib/python{platform.python_version_tuple()[0]}.{platform.python_version_tuple()[1]}"
SITE += "/site-packages"


@pytest.fixture
def session(pl_manager):
    """Ursula's kernel session in environment 'env' (plfast 1.0, as its build recorded)."""
    pl_manager.create_layer("env", "environment")
    staged = pl_manager.store.staging_root / "env-1"
    for rel in ("bin/python", f"{SITE}/plfast/__init__.py", f"{SITE}/plfast-1.0.dist-info/RECORD"):
        (staged / rel).parent.mkdir(parents=True, exist_ok=True)
        (staged / rel).write_text("")
    with pl_manager.catalog.transaction(write=True) as conn:
        commit_version(
            pl_manager.catalog,
            conn,
            pl_manager.store,
            "env",
            staged,
            summarize_tree(staged),
            layer_fields={},
            version_fields={
                "interpreter": platform.python_version(),
                "lock": "plfast==1.0\n",
                "packages": [{"name": "plfast", "version": "1.0"}],
            },
        )
    request = {"kernel_id": "k-1", "environment": "env", "backend": "none"}
    return pl_manager.open_kernel_session(request, user="ursula")


LONG = "x" * 201
HOSTILE = [
    ("plfast==2.0", "live_installs must be a list of at most 10000 packages"),
    ([{"name": "plfast", "version": "1.0"}] * 10001, "at most 10000 packages"),
    (["plfast==2.0"], r"live_installs\[0\] must be an object with a name and a version"),
    ([{"name": "plfast"}], "must be an object with a name and a version"),
    ([{"name": "plfast", "version": "2.0", "url": "x"}], "with a name and a version, only"),
    ([{"name": 3, "version": "2.0"}], "the name and the version must be text"),
    ([{"name": "--index-url", "version": "2.0"}], "'--index-url' is not a distribution name"),
    ([{"name": "-e", "version": "2.0"}], "'-e' is not a distribution name"),
    ([{"name": "git+ssh://host/repo", "version": "2.0"}], "is not a distribution name"),
    ([{"name": "./wheels/plfast", "version": "2.0"}], "is not a distribution name"),
    ([{"name": "plfast[all]", "version": "2.0"}], "is not a distribution name"),
    ([{"name": "plfast @ file:///tmp/x", "version": "2.0"}], "is not a distribution name"),
    ([{"name": "plfast\n--index-url", "version": "2.0"}], "is not a distribution name"),
    ([{"name": LONG, "version": "2.0"}], "at most 200 characters"),
    (
        [{"name": "plfast", "version": "2.0\n--extra-index-url http://127.0.0.1:9/"}],
        "is not a package version",
    ),
    ([{"name": "plfast", "version": "2.0; python_version>'3'"}], "is not a package version"),
    ([{"name": "plfast", "version": "2.0 --hash=sha256:00"}], "is not a package version"),
    ([{"name": "plfast", "version": "1" * 101}], "is not a package version"),
    ([{"name": "plfast", "version": "latest"}], "'latest' is not a PEP 440 version"),
    (
        [{"name": "pl_fast", "version": "2.0"}, {"name": "PL.Fast", "version": "2.0"}],
        r"live_installs\[1\]: 'PL.Fast' is listed twice",
    ),
]


@pytest.mark.parametrize(("installs", "message"), HOSTILE)
def test_a_save_with_bad_installs_is_refused_and_creates_nothing(
    session, pl_manager, installs, message
):
    with pytest.raises(InvalidInput, match=message):
        pl_manager.save_session("k-1", "saved", live_installs=installs, owner="ursula")
    assert [layer["name"] for layer in pl_manager.list_layers()["layers"]] == ["env"]
    assert pl_manager.list_jobs() == []
    [active] = pl_manager.list_sessions(active=True)
    assert active["live_installs"] == []


def test_a_close_with_bad_installs_is_refused_and_the_session_stays(session, pl_manager):
    bad = [{"name": "plfast", "version": "2.0\n-e ."}]
    with pytest.raises(InvalidInput, match="is not a package version"):
        pl_manager.close_kernel_session(
            session["session_id"], reason="kernel stopped", live_installs=bad, user="ursula"
        )
    assert [s["id"] for s in pl_manager.list_sessions(active=True)] == [session["session_id"]]


def test_reported_installs_become_plain_pins_on_the_environments_lock(session, pl_manager):
    installs = [{"name": "pllive", "version": "1.0"}, {"name": "plfast", "version": "2.0"}]
    saved = pl_manager.save_session("k-1", "saved", live_installs=installs, owner="ursula")
    try:
        assert saved["changes"]["installed"] == [{"name": "pllive", "version": "1.0"}]
        assert saved["changes"]["upgraded"] == [{"name": "plfast", "from": "1.0", "version": "2.0"}]
        assert saved["changes"]["removed"] == []
        assert saved["requirements"] == "plfast==2.0\npllive==1.0\n"
        assert saved["layer"]["description"] == (
            "Saved from a session of env (version 1) with pllive==1.0, plfast==2.0."
        )
        [active] = pl_manager.list_sessions(active=True)
        assert active["live_installs"] == sorted(installs, key=lambda p: p["name"])
    finally:
        pl_manager.cancel_job(saved["job"]["id"])


def test_what_a_kernel_leaves_in_its_overlay_passes_the_same_check(tmp_path):
    # Given an overlay where the kernel made dist-info folders of every kind
    site = tmp_path / "venv" / SITE
    for folder in (
        "pllive-1.0.dist-info",
        "pl_other-2.0rc1.dist-info",
        "legacy-2004d.dist-info",  # no PEP 440 version: no pin can be made of it
        "odd name-1.0.dist-info",
    ):
        (site / folder).mkdir(parents=True)
    # Then what the overlay reports is exactly what a service accepts
    found = overlay_installs(tmp_path)
    assert found == [
        {"name": "pl-other", "version": "2.0rc1"},
        {"name": "pllive", "version": "1.0"},
    ]
    assert checked_installs(found) == found


async def test_the_rest_route_refuses_them_with_the_same_message(session, pl_manager, pl_api):
    for installs, message in (
        ([{"name": "plfast", "version": "2.0\n-e ."}], "live_installs[0]: '2.0\\n-e .' is not"),
        ([{"name": "plfast", "version": "2.0", "url": "x"}], "Invalid request body at"),
    ):
        response = await pl_api(
            "sessions",
            "k-1",
            "save",
            method="POST",
            json_body={"name": "saved", "live_installs": installs},
        )
        assert response.status == 400, response.body
        assert response.body["message"].startswith(message), response.body
    assert [layer["name"] for layer in pl_manager.list_layers()["layers"]] == ["env"]
