"""The same promises for a node whose server runs as an unprivileged user.

Everything here runs as the user ``nobody`` (uid 65534) through ``setpriv``: the CLI
builds an environment and fills a reference layer, a real ``jupyter server`` serves
them, and a real kernel in the sandbox tries to write into its layers and to reach the
store. Afterwards every layer's digest is recomputed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pennlayer_ext.core.sandbox import bwrap_works

from .helpers import free_port

NOBODY = 65534
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run things as 'nobody'"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
    pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap"),
]

ATTACKS = r"""
import errno, os, json
found = {}
try:
    # The files are read-only on disk and owned by this user: the mount must stop it.
    os.chmod('/mnt/layers/genome/chr1.fa', 0o666)
    open('/mnt/layers/genome/chr1.fa', 'a').write('x')
    found['write_layer'] = 'written'
except OSError as exc:
    found['write_layer'] = errno.errorcode.get(exc.errno, str(exc.errno))
try:
    os.listdir(STORE)
    found['store'] = 'visible'
except OSError as exc:
    found['store'] = errno.errorcode.get(exc.errno, str(exc.errno))
found['uid'] = os.getuid()
status = open('/proc/self/status').read()
found['cap_eff'] = [l.split()[1] for l in status.splitlines() if l.startswith('CapEff')][0]
found['layers'] = sorted(os.listdir('/mnt/layers'))
open('mine.txt', 'w').write('ok')
print(json.dumps(found))
"""

HEADLESS = """
import asyncio, os
from jupyter_client.manager import AsyncKernelManager
async def main():
    km = AsyncKernelManager(kernel_name='pennlayer-sci')
    await km.start_kernel(cwd=os.getcwd())
    kc = km.client(); kc.start_channels(); await kc.wait_for_ready(timeout=60)
    out = []
    await kc.execute_interactive(open('attacks.py').read(),
        output_hook=lambda m: out.append(m['content'].get('text', '')))
    print(''.join(out).strip().splitlines()[-1])
    kc.stop_channels(); await km.shutdown_kernel()
asyncio.run(main())
"""


@pytest.fixture
def nobody_home():
    """A folder owned by nobody, on a path nobody can reach (pytest's tmp is root-only)."""
    home = Path(tempfile.mkdtemp(prefix="pennlayer-nobody-", dir="/tmp"))
    os.chmod(home, 0o755)  # noqa: S103 (others must reach it: it is nobody's home)
    os.chown(home, NOBODY, NOBODY)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _nobody_python(home):
    """An interpreter 'nobody' can run, seeing this test run's packages.

    This interpreter may live where only root can go (a pyenv under /root): then a
    virtual environment on the system's Python of the same version stands in, with this
    environment's site-packages added.
    """
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    base = Path(f"/usr/bin/python{version}")
    if not base.exists():
        pytest.skip(f"needs /usr/bin/python{version} for the unprivileged user")
    venv = home / "venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    (venv / "lib" / f"python{version}" / "site-packages" / "_tested.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n"
    )
    return str(venv / "bin" / "python")


def _network_settings():
    """The machine's certificate and proxy settings, which package downloads need."""
    names = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "UV_NATIVE_TLS")
    return {
        name: value
        for name, value in os.environ.items()
        if name in names or name.lower() in ("http_proxy", "https_proxy", "no_proxy")
    }


def _as_nobody(home, argv, *, cwd=None, check=True, timeout=300, **env_extra):
    env = {
        **_network_settings(),
        "PATH": f"{home / 'venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PENNLAYER_STORE": str(home / "store"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "UV_INDEX": os.environ.get("UV_INDEX", ""),
        **env_extra,
    }
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    result = subprocess.run(
        [*setpriv, *argv],
        cwd=cwd or home,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_node_run_by_an_unprivileged_user_keeps_layers_read_only(nobody_home, local_index):
    home = nobody_home
    python = _nobody_python(home)
    cli = [python, "-m", "pennlayer_ext.cli"]
    # Given layers built and filled by the CLI as 'nobody'
    (home / "requirements.txt").write_text("plfast==1.0\n")
    src = home / "src"
    src.mkdir()
    (src / "chr1.fa").write_text(">chr1\nACGT\n")
    (home / "config").mkdir()
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"PennLayerApp": {"allowed_source_roots": [str(src)]}})
    )
    for path in (home / "requirements.txt", src, src / "chr1.fa", home / "config"):
        os.chown(path, NOBODY, NOBODY)
    _as_nobody(
        home,
        [
            *cli,
            "create",
            "sci",
            "--kind",
            "environment",
            "-r",
            str(home / "requirements.txt"),
        ],
    )
    _as_nobody(home, [*cli, "create", "genome", "--kind", "reference"])
    _as_nobody(home, [*cli, "populate", "genome", "--source", str(src)])

    # When a real server runs as 'nobody', it serves them with the sandbox enforced
    port = free_port()
    server = subprocess.Popen(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            python,
            "-m",
            "jupyter_server",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=t",
            "--ServerApp.jpserver_extensions={'pennlayer_ext': True}",
        ],
        cwd=home,
        env={
            "PATH": f"{home / 'venv' / 'bin'}:/usr/bin:/bin",
            "HOME": str(home),
            "PENNLAYER_STORE": str(home / "store"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        node = None
        for _ in range(150):
            probe = subprocess.run(
                ["curl", "-sf", f"http://127.0.0.1:{port}/pennlayer/node?token=t"],
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode == 0:
                node = json.loads(probe.stdout)
                break
            time.sleep(0.2)
        assert node is not None, "the server did not answer"
        assert node["sandbox"]["backend"] == "bwrap"
        assert node["sandbox"]["read_only_enforced"] is True
        assert node["totals"]["layer_count"] == 2
    finally:
        server.terminate()
        server.wait(30)

    # And a real kernel (headless, as 'nobody') tries to break out
    work = home / "work"
    work.mkdir()
    # The kernel's environment is an allow-list: the store's path goes into the code.
    (work / "attacks.py").write_text(f"STORE = {str(home / 'store')!r}\n" + ATTACKS)
    for path in (work, work / "attacks.py"):
        os.chown(path, NOBODY, NOBODY)
    result = _as_nobody(
        home,
        [python, "-c", HEADLESS],
        cwd=work,
        PENNLAYER_LAYERS="genome",
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])

    # Then the layer could not be written, the store was not there, no capability held
    assert found["write_layer"] == "EROFS"
    assert found["store"] == "ENOENT"
    assert found["cap_eff"] == "0000000000000000"
    assert found["layers"] == ["genome", "sci"]
    assert (work / "mine.txt").read_text() == "ok"  # the working area stays writable
    # and every layer still matches its digest
    verified = _as_nobody(home, [*cli, "verify"])
    assert "2 version(s) checked, 0 drifted." in verified.stdout
