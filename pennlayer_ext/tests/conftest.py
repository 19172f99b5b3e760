import json
import os
import shutil
import tarfile

import pytest

from pennlayer_ext.core.sandbox import bwrap_works

from .helpers import (
    Kernel,
    LocalIndex,
    add_reference_version,
    build_environment,
    docker_client,
    import_kernel_image,
    make_wheel,
    start_s3_server,
)

# The suite runs on several workers (pytest-xdist), which set LINES and COLUMNS to 80x24
# for themselves; a command a test starts on a terminal of its own must see that one.
os.environ.pop("LINES", None)
os.environ.pop("COLUMNS", None)


def pytest_collection_modifyitems(items):
    """One id per fuzzed operation: schemathesis names its items after the operation but
    gives them all the test function's id, and workers find their items by id (each would
    fuzz the first operation over and over)."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and item.nodeid.endswith("::" + item.originalname):
            if hasattr(item, "_id"):  # pytest 9 keeps the id as a structured NodeId
                item._id = item._id.with_params(label)
            else:
                item._nodeid = f"{item.nodeid}[{label}]"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test fails: every real part (bubblewrap, Docker, the S3 server,
    JupyterHub's proxy, system users) is installed by scripts/setup.sh, so a skip there
    means a missing install step, not a test that may be left out."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a missing install step?): {reason}"


@pytest.fixture
def jp_server_config(pl_server_config):
    return pl_server_config


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """A package index on loopback with plfast 1.0/2.0 and plslow 1.0 (whose download stalls)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "plfast", "1.0")
    make_wheel(wheels, "plfast", "2.0")
    make_wheel(wheels, "plslow", "1.0")
    index = LocalIndex(wheels)
    index.stall.add("plslow-1.0-py3-none-any.whl")
    with index.running():
        # Builds look here first and fall back to the configured index for the rest.
        monkeypatch.setenv("UV_INDEX", index.url)
        yield index


@pytest.fixture
def source_root(tmp_path):
    """A folder of sources for loaders: genome/chr1.fa and genome/sub/index.txt."""
    root = tmp_path / "sources"
    (root / "genome").mkdir(parents=True)
    (root / "genome" / "chr1.fa").write_text(">chr1\nACGT\n" * 100)
    (root / "genome" / "sub").mkdir()
    (root / "genome" / "sub" / "index.txt").write_text("index")
    return root


@pytest.fixture
def env_and_layers(pl_manager, local_index):
    """A READY environment 'sci' (plfast 1.0) and reference layers 'genome' and 'secret'.

    The kernel tests that use it need bubblewrap; the configuration tests do not.
    """
    if not bwrap_works():
        pytest.skip("bubblewrap is needed (scripts/setup.sh installs it)")
    job = build_environment(pl_manager, "sci", "plfast==1.0\n")
    assert job["state"] == "succeeded", job
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\nACGT\n", "sub/readme": "v1"})
    pl_manager.create_layer("secret", "reference")
    add_reference_version(pl_manager, "secret", {"keys.txt": "not for you"})
    return pl_manager


@pytest.fixture
def start_kernel(jp_fetch, pl_serverapp):
    kernels = []

    async def start(path, kernel_name="pennlayer-sci"):
        response = await jp_fetch(
            "api",
            "sessions",
            method="POST",
            body=json.dumps({"path": path, "type": "notebook", "kernel": {"name": kernel_name}}),
        )
        kernel = Kernel(jp_fetch, pl_serverapp, json.loads(response.body))
        kernel.client.start_channels()
        await kernel.client.wait_for_ready(timeout=60)
        kernels.append(kernel)
        return kernel

    yield start
    for kernel in kernels:
        kernel.client.stop_channels()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on loopback, for the whole test session."""
    started = start_s3_server()
    if started is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    process, url = started
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3(s3_server, monkeypatch):
    import boto3
    from botocore.config import Config

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)  # the workers inherit them: boto3's standard chain
    return boto3.client(
        "s3", endpoint_url=s3_server, config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory):
    client = docker_client()
    busybox = shutil.which("busybox")
    if client is None or busybox is None:
        pytest.skip("needs a Docker engine and busybox (scripts/test.sh starts and installs them)")
    rootfs = tmp_path_factory.mktemp("rootfs")
    archive = rootfs / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for tool in ("sh", "cp", "ls", "echo", "cat", "mkdir", "sleep", "touch", "test"):
            info = tarfile.TarInfo(f"bin/{tool}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for folder in ("input", "output", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o777
            tar.addfile(info)
    try:
        client.api.import_image(src=str(archive), repository="pennlayer-test-busybox", tag="1")
    finally:
        client.close()
    return "pennlayer-test-busybox:1"


@pytest.fixture(scope="session")
def kernel_image():
    """An image the docker sandbox can run this machine's interpreter in."""
    client = docker_client()
    if client is None:
        pytest.skip("needs a Docker engine (scripts/test.sh starts it)")
    try:
        return import_kernel_image(client, "pennlayer-test-kernel")
    finally:
        client.close()
