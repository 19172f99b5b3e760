"""What a sandboxed kernel or command may do when the server runs as root (as in CI):
no capabilities, not root, no way to change a layer, and none of the server's secrets."""

import json
import stat

import pytest

from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.sandbox import bwrap_works

from .helpers import populate, write_notebook

pytestmark = pytest.mark.timeout(300)

# Runs in the kernel; prints one JSON line with what each attempt gave.
KERNEL_PROBE = r"""
import ctypes, errno, json, os, subprocess
result = {"uid": os.getuid(), "gid": os.getgid()}
status = open("/proc/self/status").read().splitlines()
result["cap_eff"] = int(next(l for l in status if l.startswith("CapEff:")).split()[1], 16)
layer = "/mnt/layers/genome"
def run(*argv):
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.returncode
result["remount"] = run("mount", "-o", "remount,rw", layer)
result["remount_in_new_userns"] = run(
    "unshare", "-Urm", "sh", "-c", f"mount -o remount,rw {layer} && touch {layer}/nested"
)
result["bind_over"] = run("mount", "--bind", "/tmp", layer)
try:
    open(f"{layer}/pwned", "w").write("x")
    result["write_layer"] = "written"
except OSError as exc:
    result["write_layer"] = errno.errorcode[exc.errno]
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint), ("type", ctypes.c_int), ("bytes", ctypes.c_ubyte * 128)]
def open_by_handle(handle, flags):
    mount_fd = os.open(layer, os.O_RDONLY)
    fd = libc.open_by_handle_at(mount_fd, ctypes.byref(handle), flags)
    os.close(mount_fd)
    return errno.errorcode.get(ctypes.get_errno(), "?") if fd < 0 else "opened"
real = Handle(size=128)
mount_id = ctypes.c_int()
path = f"{layer}/chr1.fa".encode()
libc.name_to_handle_at(-100, path, ctypes.byref(real), ctypes.byref(mount_id), 0)
forged = Handle(size=8, type=1)  # inode 2 (a file system's root), generation 0
ctypes.memmove(forged.bytes, (ctypes.c_uint32 * 2)(2, 0), 8)
result["open_by_handle"] = [open_by_handle(real, os.O_RDWR), open_by_handle(forged, os.O_RDONLY)]
result["raw_devices"] = [
    d for d in ("/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/mem", "/dev/kmem", "/dev/port",
                "/dev/kmsg") if os.path.exists(d)
]
try:
    os.mknod("/tmp/disk", 0o600 | 0o060000, os.makedev(8, 0))
    result["mknod"] = "made"
except OSError as exc:
    result["mknod"] = errno.errorcode[exc.errno]
open("written-by-kernel.txt", "w").write("ok")
open("/tmp/scratch", "w").write("ok")
result["tmp"] = open("/tmp/scratch").read()
# A set-id bit on a file of the working area would make a root program on the host.
for label, attempt in (
    ("chmod_setuid", lambda: os.chmod("written-by-kernel.txt", 0o4755)),
    ("chmod_setgid", lambda: os.chmod("written-by-kernel.txt", 0o2755)),
    ("create_setuid", lambda: os.close(os.open("setuid-new", os.O_CREAT | os.O_WRONLY, 0o4755))),
    ("chmod_plain", lambda: os.chmod("written-by-kernel.txt", 0o755)),
):
    try:
        attempt()
        result[label] = "done"
    except OSError as exc:
        result[label] = errno.errorcode[exc.errno]
print(json.dumps(result))
"""


async def test_a_kernel_of_a_root_server_has_no_privileges_and_cannot_change_a_layer(
    env_and_layers, start_kernel, jp_root_dir, pl_store
):
    genome = env_and_layers.get_layer("genome")
    version_dir = pl_store / "layers" / "genome" / str(genome["version"])
    before = summarize_tree(version_dir).digest
    kernel = await start_kernel(write_notebook(jp_root_dir, "proj/r.ipynb", {"layers": ["genome"]}))

    status, out = await kernel.run(KERNEL_PROBE, timeout=120)
    assert status == "ok", out
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["uid"], result["gid"]) == (65534, 65534), result
    assert result["cap_eff"] == 0, result
    assert result["remount"] != 0, result
    assert result["remount_in_new_userns"] != 0, result
    assert result["bind_over"] != 0, result
    assert result["write_layer"] == "EROFS", result
    assert result["open_by_handle"] == ["EPERM", "EPERM"], result
    assert result["raw_devices"] == [], result
    assert result["mknod"] == "EPERM", result
    # What a kernel must still do: its working area and its /tmp.
    assert result["tmp"] == "ok"
    written = jp_root_dir / "proj" / "written-by-kernel.txt"
    assert written.read_text() == "ok"
    # No set-id bit gets out of the sandbox; plain modes still work
    assert result["chmod_setuid"] == result["chmod_setgid"] == "EPERM", result
    assert result["create_setuid"] == "EPERM", result
    assert result["chmod_plain"] == "done", result
    assert written.stat().st_mode & 0o7777 == 0o755
    assert not (jp_root_dir / "proj" / "setuid-new").exists()
    await kernel.stop()

    assert summarize_tree(version_dir).digest == before
    assert sorted(p.name for p in version_dir.iterdir()) == ["chr1.fa", "sub"]


@pytest.fixture
def pl_extra_config(source_root):
    return {"PennLayerApp": {"allowed_source_roots": [str(source_root)]}}


@pytest.mark.skipif(not bwrap_works(), reason="the command processor needs bubblewrap")
async def test_a_command_runs_without_privileges_and_its_output_gets_plain_modes(
    pl_api, pl_wait_job, pl_store, source_root
):
    source = source_root / "genome"
    before = summarize_tree(source).digest
    command = (
        "grep CapEff /proc/self/status > /output/caps.txt; id -u > /output/uid.txt; "
        "mount -o remount,rw /input && touch /input/pwned; "
        "cp -r /input/. /output/ && printf '#!/bin/sh\\n' > /output/tool && "
        "chmod 755 /output/tool; "
        # set-id bits are refused outright (the sandbox's seccomp filter)
        "(chmod u+s,g+s /output/tool || echo refused >> /output/setid.txt); "
        "(chmod 4755 /output/chr1.fa || echo refused >> /output/setid.txt); "
        "mkdir /output/shared && (chmod 3777 /output/shared || echo refused >> /output/setid.txt); "
        "chmod 0600 /output/uid.txt && mkfifo /output/pipe && mkfifo /output/shared/pipe2"
    )
    response = await populate(
        pl_api,
        "cmd",
        {"source": str(source), "processor": {"type": "command", "command": command}},
    )
    assert response.status == 202, response.body
    job = await pl_wait_job(response.body["id"])
    assert job["state"] == "succeeded", job

    version = pl_store / "layers" / "cmd" / "1"
    assert (version / "caps.txt").read_text().split() == ["CapEff:", "0000000000000000"]
    assert (version / "uid.txt").read_text() == "65534\n"
    assert (version / "setid.txt").read_text() == "refused\n" * 3
    assert not (source / "pwned").exists()
    assert summarize_tree(source).digest == before
    modes = {}
    for path in [version, *version.rglob("*")]:
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode), path
        modes[str(path.relative_to(version))] = stat.S_IMODE(info.st_mode)
    # Plain modes, no set-id bits; committed versions are then sealed read-only
    assert modes == {
        ".": 0o555,
        "caps.txt": 0o444,
        "uid.txt": 0o444,
        "setid.txt": 0o444,
        "chr1.fa": 0o444,
        "tool": 0o555,
        "shared": 0o555,
        "sub": 0o555,
        "sub/index.txt": 0o444,
    }
    log = (await pl_api("jobs", job["id"], "log")).body
    log = log if isinstance(log, str) else json.dumps(log)
    assert "Dropped 2 special file(s) the command made" in log
    assert "pipe, shared/pipe2" in log


SECRETS = {
    "JUPYTER_TOKEN": "server-token",
    "JPY_API_TOKEN": "hub-api-token",
    "JUPYTERHUB_API_TOKEN": "hub-token",
    "AWS_ACCESS_KEY_ID": "AKIA-test",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GOOGLE_APPLICATION_CREDENTIALS": "/keys/gcp.json",
    "AZURE_CLIENT_SECRET": "azure-secret",
    "MY_SERVICE_TOKEN": "service-token",
    "DB_PASSWORD": "db-password",
    "PL_TEST_NOT_ALLOWED": "plain but not asked for",
}


@pytest.fixture
def server_environment(monkeypatch):
    """The server's own environment holds credentials and one variable an operator allows."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PL_TEST_ALLOWED", "let through")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")


@pytest.mark.parametrize(
    "pl_extra_config",
    [
        {"PennLayerApp": {"sandbox": backend, "kernel_env_allow": ["PL_TEST_ALLOWED"]}}
        for backend in ("bwrap", "none")
    ],
    ids=["bwrap", "none"],
)
async def test_a_kernel_gets_an_allow_listed_environment(
    server_environment, pl_extra_config, env_and_layers, start_kernel, jp_root_dir, pl_api
):
    backend = pl_extra_config["PennLayerApp"]["sandbox"]
    kernel = await start_kernel(write_notebook(jp_root_dir, f"{backend}/e.ipynb", {"layers": []}))
    status, out = await kernel.run("import json, os; print(json.dumps(dict(os.environ)))")
    assert status == "ok", out
    # (the none backend's notice comes on stderr, around the cell's own output)
    env = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert env["PENNLAYER_BACKEND"] == backend
    leaked = sorted(set(SECRETS) & set(env))
    assert leaked == []
    assert not [value for value in SECRETS.values() if value in out]
    assert env["PL_TEST_ALLOWED"] == "let through"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["JPY_SESSION_NAME"].endswith("e.ipynb")
    assert "PENNLAYER_STORE" not in env
    assert "JUPYTER_DATA_DIR" not in env
    await kernel.stop()
    node = (await pl_api("node")).body["sandbox"]
    assert (node["backend"], node["kernel_env_allow"]) == (backend, ["PL_TEST_ALLOWED"])
    assert node["unprivileged"] is (backend == "bwrap")
