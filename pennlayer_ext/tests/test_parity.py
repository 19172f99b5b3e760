"""Rules once: the same bad input gets the same message through the REST API and the CLI.

Each row is one mistake a person makes, said the REST way and the CLI way, against the
same store. Nothing is created by any of them.
"""

import pytest

from .test_cli import run_cli

BAD_JOB = "0" * 32


def _rest(method, path, body=None, params=None):
    return {"method": method, "path": path, "body": body, "params": params or {}}


CASES = [
    (
        "bad name",
        _rest("POST", ("layers",), {"name": "Bad-Name", "kind": "reference"}),
        ["create", "Bad-Name", "--kind", "reference"],
    ),
    (
        "unknown kind",
        _rest("POST", ("layers",), {"name": "ok", "kind": "dataset"}),
        ["create", "ok", "--kind", "dataset"],
    ),
    (
        "control characters in the description",
        _rest("POST", ("layers",), {"name": "ok", "kind": "reference", "description": "a\x07"}),
        ["create", "ok", "--kind", "reference", "--description", "a\x07"],
    ),
    (
        "a lone surrogate in the description (undecodable bytes on a command line)",
        _rest("POST", ("layers",), {"name": "ok", "kind": "reference", "description": "a\udcff"}),
        ["create", "ok", "--kind", "reference", "--description", "a\udcff"],
    ),
    (
        "description too long",
        _rest("POST", ("layers",), {"name": "ok", "kind": "reference", "description": "x" * 2001}),
        ["create", "ok", "--kind", "reference", "--description", "x" * 2001],
    ),
    (
        "language on a reference layer",
        _rest("POST", ("layers",), {"name": "ok", "kind": "reference", "language": "python"}),
        ["create", "ok", "--kind", "reference", "--language", "python"],
    ),
    (
        "unknown language",
        _rest("POST", ("layers",), {"name": "ok", "kind": "environment", "language": "cobol"}),
        ["create", "ok", "--kind", "environment", "--language", "cobol"],
    ),
    (
        "requirements for a reference layer",
        _rest("POST", ("layers",), {"name": "ok", "kind": "reference", "requirements": "x\n"}),
        ["create", "ok", "--kind", "reference", "-r", "{req:x\n}"],
    ),
    (
        "refused requirement lines",
        _rest(
            "POST",
            ("layers",),
            {"name": "ok", "kind": "environment", "requirements": "-e ./pkg\nhttps://x/y.whl\n"},
        ),
        ["create", "ok", "--kind", "environment", "-r", "{req:-e ./pkg\nhttps://x/y.whl\n}"],
    ),
    (
        "unknown interpreter",
        _rest(
            "POST",
            ("layers",),
            {"name": "ok", "kind": "environment", "requirements": "plfast\n", "python": "py3"},
        ),
        ["create", "ok", "--kind", "environment", "-r", "{req:plfast\n}", "--python", "py3"],
    ),
    (
        "unknown kind filter",
        _rest("GET", ("layers",), params={"kind": "bogus"}),
        ["list", "--kind", "bogus"],
    ),
    (
        "unknown status filter",
        _rest("GET", ("layers",), params={"status": "ready"}),
        ["list", "--status", "ready"],
    ),
    (
        "unknown job state",
        _rest("GET", ("jobs",), params={"state": "done"}),
        ["jobs", "--state", "done"],
    ),
    ("unknown layer", _rest("GET", ("layers", "no-such")), ["show", "no-such"]),
    ("delete an unknown layer", _rest("DELETE", ("layers", "no-such")), ["delete", "no-such"]),
    ("cancel an unknown job", _rest("DELETE", ("jobs", BAD_JOB)), ["cancel", BAD_JOB]),
    (
        "build a reference layer",
        _rest("POST", ("layers", "genome", "build"), {"requirements": "plfast\n"}),
        ["build", "genome", "-r", "{req:plfast\n}"],
    ),
    (
        "populate an environment",
        _rest("POST", ("layers", "stack", "populate"), {"source": "https://example.org/x.tar"}),
        ["populate", "stack", "--source", "https://example.org/x.tar"],
    ),
    (
        "re-run a loader that never ran",
        _rest("POST", ("layers", "genome", "populate"), {}),
        ["populate", "genome"],
    ),
    (
        "unsupported source scheme",
        _rest("POST", ("layers", "genome", "populate"), {"source": "ftp://host/genome.fa"}),
        ["populate", "genome", "--source", "ftp://host/genome.fa"],
    ),
    (
        "loopback address source",
        _rest("POST", ("layers", "genome", "populate"), {"source": "http://127.0.0.1:8080/x"}),
        ["populate", "genome", "--source", "http://127.0.0.1:8080/x"],
    ),
    (
        "cloud metadata address source",
        _rest(
            "POST",
            ("layers", "genome", "populate"),
            {"source": "http://169.254.169.254/latest/meta-data/"},
        ),
        ["populate", "genome", "--source", "http://169.254.169.254/latest/meta-data/"],
    ),
    (
        "IPv6 loopback address source",
        _rest("POST", ("layers", "genome", "populate"), {"source": "http://[::1]/x.tar"}),
        ["populate", "genome", "--source", "http://[::1]/x.tar"],
    ),
    (
        "private address source",
        _rest("POST", ("layers", "genome", "populate"), {"source": "https://10.0.0.7/x.tar"}),
        ["populate", "genome", "--source", "https://10.0.0.7/x.tar"],
    ),
    (
        "a lone surrogate in a source",
        _rest("POST", ("layers", "genome", "populate"), {"source": "/data/\udcff"}),
        ["populate", "genome", "--source", "/data/\udcff"],
    ),
    (
        "local source on a node that allows none",
        _rest("POST", ("layers", "genome", "populate"), {"source": "/etc"}),
        ["populate", "genome", "--source", "/etc"],
    ),
    (
        "a run parameter that is not a Python name",
        _rest("POST", ("runs",), {"notebook": "a.ipynb", "parameters": {"1x": 1}}),
        ["run", "a.ipynb", "-p", "1x", "1"],
    ),
    ("rerun an unknown run", _rest("POST", ("runs", BAD_JOB, "rerun"), {}), ["rerun", BAD_JOB]),
    (
        "unknown run state",
        _rest("GET", ("runs",), params={"state": "done"}),
        ["runs", "--state", "done"],
    ),
]


@pytest.mark.parametrize(("case", "rest", "cli"), CASES, ids=[case[0] for case in CASES])
async def test_the_same_bad_input_reads_the_same_through_rest_and_cli(
    pl_api, pl_store, tmp_path, case, rest, cli
):
    # Given a node with one reference and one environment layer
    for name, kind in (("genome", "reference"), ("stack", "environment")):
        assert (
            await pl_api("layers", method="POST", json_body={"name": name, "kind": kind})
        ).status == 201
    before = (await pl_api("layers")).body["layers"]

    # When the mistake is made through the REST API
    if rest["method"] == "POST":
        response = await pl_api(*rest["path"], method="POST", json_body=rest["body"])
    else:
        response = await pl_api(*rest["path"], method=rest["method"], params=rest["params"])
    assert 400 <= response.status < 500, response.body

    # And through the CLI (requirements go through a file, as a person passes them)
    args = []
    for arg in cli:
        if arg.startswith("{req:"):
            path = tmp_path / "requirements.txt"
            path.write_text(arg[len("{req:") : -1])
            arg = str(path)
        args.append(arg)
    result = run_cli(pl_store, *args, check=False)

    # Then both say exactly the same, and nothing changed on the node
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {response.body['message']}"
    assert (await pl_api("layers")).body["layers"] == before
