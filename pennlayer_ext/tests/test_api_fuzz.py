"""The REST API, fuzzed from its contract: no 5xx, and every answer as schema/openapi.yaml says.

Schemathesis generates requests for every operation of the spec (its examples, coverage
and fuzzing phases, valid and invalid input) and sends them to a real ``jupyter server``
with pennlayer, started here on a loopback port with its own store and Jupyter folders.
Each answer must be no server error, a documented status with the documented content
type, and a body that matches the documented schema. A create refused for its input must
leave no layer behind.

Generation is derandomized (the same requests every run) and the server cannot reach the
network: builds run uv offline against an index on a closed loopback port, other HTTP
clients go through a proxy that is not there, and no populate request names a URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks

from pennlayer_ext.core.names import name_problem
from pennlayer_ext.schemas import openapi_path

from .helpers import SERVER_TOKEN, free_port, jupyter_server_argv

pytestmark = pytest.mark.timeout(600)

# Examples per operation in the fuzzing phase; the examples and coverage phases add theirs.
MAX_EXAMPLES = 100
MIN_REQUESTS = 1000
AUTH = {"Authorization": f"token {SERVER_TOKEN}"}
# Port 9 (discard) on loopback: nothing listens there, so every attempt fails at once.
NOWHERE = "http://127.0.0.1:9"
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]


def _load_schema():
    """The spec without its security requirement: every request carries the token.

    Left in, half of the invalid requests would only drop the token (a 403 each);
    test_auth.py proves that every route refuses an unauthenticated call.
    """
    raw = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
    raw.pop("security", None)
    loaded = schemathesis.openapi.from_dict(raw)
    # Resolve the request schemas ($ref: requests/...) next to the spec, as from_path does.
    loaded.location = openapi_path().absolute().as_uri()
    return loaded


schema = _load_schema()

# Filled while the fuzzing runs: requests per operation, and layers that exist.
SENT: Counter[str] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()
KNOWN: dict[str, list[str]] = {"name": [], "job_id": [], "source": []}
CREATED: set[str] = set()


class FuzzServer:
    """A ``jupyter server`` with pennlayer in its own process group, cut off from the network."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        # A small tree that populate requests may copy (the one allowed source root).
        self.sources = root / "sources"
        (self.sources / "genome" / "sub").mkdir(parents=True)
        (self.sources / "genome" / "chr1.fa").write_text(">chr1\nACGT\n")
        (self.sources / "genome" / "sub" / "index.txt").write_text("index")
        env = dict(os.environ)
        env.update(
            {
                "JUPYTER_CONFIG_DIR": str(root / "config"),
                "JUPYTER_DATA_DIR": str(root / "data"),
                "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
                "UV_OFFLINE": "1",
                "UV_INDEX_URL": f"{NOWHERE}/simple",
                "UV_DEFAULT_INDEX": f"{NOWHERE}/simple",
                "PIP_INDEX_URL": f"{NOWHERE}/simple",
                "AWS_EC2_METADATA_DISABLED": "true",
                "NO_PROXY": "",
                "no_proxy": "",
            }
        )
        env.pop("UV_INDEX", None)
        for variable in ("http_proxy", "https_proxy", "all_proxy"):
            env[variable] = env[variable.upper()] = NOWHERE
        argv = jupyter_server_argv(
            self.port,
            root / "store",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1",
            f"--PennLayerApp.kernelspec_dir={root / 'kernels'}",
            f"--PennLayerApp.allowed_source_roots={self.sources}",
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, self.url + path, headers=AUTH, timeout=60, **kwargs)

    def wait_until_up(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()[-3000:]}")
            try:
                node = self.call("GET", "/pennlayer/node")
                if node.status_code == 200:
                    # Our server (not another one on a reused port), with every setting taken.
                    assert node.json()["store_root"] == str(self.root / "store"), node.text
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not come up")

    def cancel_active_jobs(self) -> None:
        for state in ("queued", "running"):
            for job in self.call("GET", "/pennlayer/jobs", params={"state": state}).json()["jobs"]:
                self.call("DELETE", f"/pennlayer/jobs/{job['id']}")

    def stop(self) -> None:
        """SIGTERM (the server stops its job workers), then SIGKILL whatever is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-server")
    server = FuzzServer(root)
    try:
        server.wait_until_up()
        # Real objects for the path parameters to hit now and then: an EMPTY reference
        # layer, and an environment whose build (offline, nothing cached) fails at once.
        server.call("POST", "/pennlayer/layers", json={"name": "fuzz-ref", "kind": "reference"})
        started = server.call(
            "POST",
            "/pennlayer/layers",
            json={"name": "fuzz-env", "kind": "environment", "requirements": "plfast\n"},
        )
        assert started.status_code == 202, started.text
        KNOWN["name"] = list(SEEDS)
        KNOWN["job_id"] = [started.json()["id"]]
        KNOWN["source"] = [str(server.sources / "genome")]
        CREATED.update(KNOWN["name"])
        yield server
    finally:
        try:
            server.cancel_active_jobs()
        finally:
            server.stop()


SEEDS = ("fuzz-ref", "fuzz-env")


@schema.hook("before_generate_path_parameters")
def sometimes_a_real_object(context, strategy):
    """Mix the names and ids of objects that exist into the generated path parameters.

    Deletes only get layers the fuzzing created, so the seeds stay for the later routes.
    """
    path = context.operation.path if context.operation else ""
    deleting = context.operation is not None and context.operation.method.upper() == "DELETE"
    wanted = [key for key in ("name", "job_id") if "{" + key + "}" in path]
    if not wanted:
        return strategy

    def pool(key: str) -> list[str]:
        if key == "name" and deleting:
            return sorted(CREATED - set(SEEDS))
        return KNOWN[key]

    def real(index: int) -> dict[str, str]:
        pools = {key: pool(key) for key in wanted}
        return {key: items[index % len(items)] for key, items in pools.items() if items}

    return st.one_of(strategy, *[st.integers(0, 15).map(real).filter(bool)] * 2)


_LAYER_NAMES = st.from_regex(r"\A[a-z0-9]{1,6}(-[a-z0-9]{1,6}){0,2}\Z")


def _valid_bodies(label: str):
    """Bodies the server accepts for *label* (random text almost never is one), or None."""
    if label == "POST /pennlayer/layers":
        return st.fixed_dictionaries(
            {"name": _LAYER_NAMES, "kind": st.sampled_from(["reference", "environment"])},
            optional={"description": st.text(max_size=40)},
        )
    if label == "PATCH /pennlayer/layers/{name}":
        return st.fixed_dictionaries({"description": st.text(max_size=40)})
    if label == "POST /pennlayer/layers/{name}/build":
        # Offline and with an empty cache, such a build fails within a second.
        return st.fixed_dictionaries(
            {"requirements": st.sampled_from(["plfast\n", "plfast==1.0\nplslow\n"])},
            optional={"refresh": st.booleans()},
        )
    if label == "POST /pennlayer/layers/{name}/populate":
        return st.fixed_dictionaries(
            {"source": st.just(None).map(lambda _: KNOWN["source"][0])},
            optional={
                "processor": st.just({"type": "copy"}),
                "mode": st.sampled_from(["replace", "add"]),
            },
        )
    return None


# Text with lone UTF-16 surrogates: JSON can spell them, UTF-8 cannot encode them.
_SURROGATE_TEXT = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    st.text(max_size=5),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=5),
)


def _nested(depth: int, kind: str) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value] if kind == "array" else {"a": value}
    return value


def _hostile_bodies(valid):
    """A valid body with one field (or a new key) holding a lone surrogate, or nested
    deeper than any request may be."""
    with_surrogate = st.tuples(
        valid,
        st.sampled_from(
            [
                "name",
                "kind",
                "description",
                "requirements",
                "python",
                "source",
                "mode",
                "processor",
                "\ud800",
            ]
        ),
        _SURROGATE_TEXT,
    )
    deep = st.tuples(valid, st.integers(65, 400), st.sampled_from(["array", "object"]))
    return st.one_of(
        with_surrogate.map(lambda t: {**t[0], t[1]: t[2]}),
        deep.map(lambda t: {**t[0], "description": _nested(t[1], t[2])}),
    )


@schema.hook("before_generate_body")
def sometimes_a_valid_or_hostile_body(context, strategy):
    """Mix in bodies the server accepts (so jobs start too) and hostile variants of them."""
    valid = _valid_bodies(context.operation.label) if context.operation else None
    if valid is None:
        return strategy
    return st.one_of(strategy, valid, valid, _hostile_bodies(valid))


# Offsets around the ends of the documented range, and far past it.
_LOG_OFFSETS = st.sampled_from([0, 1, 255, 2**31, 2**53 - 1, 2**53, 2**63, 10**21, -1])


@schema.hook("before_generate_query")
def sometimes_an_extreme_offset(context, strategy):
    if context.operation is None or context.operation.label != "GET /pennlayer/jobs/{job_id}/log":
        return strategy
    return st.one_of(strategy, st.fixed_dictionaries({"offset": _LOG_OFFSETS}))


_URL = re.compile(r"\s*[a-zA-Z][a-zA-Z0-9+.-]*:")


def _keep_sources_local(case) -> None:
    """Never let a generated populate request name a URL: its job would fetch it.

    (http(s) downloads go to public addresses directly, not through the environment's
    proxy.) Such a source becomes a local path outside the allowed root: still a 400.
    """
    body = case.body
    if case.operation.label != "POST /pennlayer/layers/{name}/populate":
        return
    source = body.get("source") if isinstance(body, dict) else None
    if isinstance(source, str) and _URL.match(source):
        case.body = {**body, "source": "/nowhere/" + source[:40]}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_request_as_its_spec_says(case, server):
    _keep_sources_local(case)
    response = case.call_and_validate(base_url=server.url, headers=AUTH, checks=CHECKS)
    label = case.operation.label
    SENT[label] += 1
    STATUSES[(label, response.status_code)] += 1
    if response.status_code == 202:
        KNOWN["job_id"].append(response.json()["id"])
    if label == "POST /pennlayer/layers":
        _check_refused_create_left_nothing(server, case.body, response.status_code)
    elif label == "DELETE /pennlayer/layers/{name}" and response.status_code == 204:
        CREATED.discard(case.path_parameters["name"])


def _check_refused_create_left_nothing(server, body, status: int) -> None:
    name = body.get("name") if isinstance(body, dict) else None
    if status in (201, 202):
        CREATED.add(name)
        return
    if status == 409 or not isinstance(name, str) or name_problem(name) or name in CREATED:
        return
    after = server.call("GET", f"/pennlayer/layers/{name}")
    assert after.status_code == 404, f"a create refused with {status} left layer {name!r}"


def test_the_fuzzing_sent_enough_requests_to_every_operation(server):
    if not SENT:
        pytest.skip("run together with the fuzzing test above")
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert set(SENT) == operations
    assert sum(SENT.values()) >= MIN_REQUESTS, SENT
    # It went past the input checks too: layers were made and removed, jobs started.
    for label, status in [
        ("POST /pennlayer/layers", 201),
        ("DELETE /pennlayer/layers/{name}", 204),
        ("POST /pennlayer/layers/{name}/build", 202),
        ("POST /pennlayer/layers/{name}/populate", 202),
        ("GET /pennlayer/jobs/{job_id}/log", 200),
    ]:
        assert STATUSES[(label, status)] > 0, (label, status, sorted(STATUSES.items()))
    log = (server.root / "server.log").read_text(errors="replace")
    assert "Uncaught exception" not in log
