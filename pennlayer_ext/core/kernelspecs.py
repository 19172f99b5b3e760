"""Kernelspecs for READY environment layers.

Every READY environment is a kernelspec named ``pennlayer-<name>`` in a kernels folder
on the Jupyter data path, so it shows in the Launcher, the kernel selector,
``jupyter kernelspec list``, nbconvert and papermill. Its metadata names pennlayer's
kernel provisioner, and its folder holds pennlayer's logo (``logo-svg.svg``,
``logo-64x64.png``, ``logo-32x32.png``), which the Launcher shows on its card. Specs are
plain files written atomically: listing kernels never waits for pennlayer. Only folders
carrying pennlayer's marker are ever removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .errors import PennLayerError
from .store import LayerStore, remove_tree, write_atomically

KERNELSPEC_PREFIX = "pennlayer-"
PROVISIONER_NAME = "pennlayer-provisioner"
#: The kernel settings a kernelspec carries for its provisioner (see build_kernelspec).
KERNELSPEC_SETTINGS = ("sandbox", "mount_root", "kernel_env_allow")
#: The kernel settings the node's configuration decides, not a kernelspec.
NODE_KERNEL_SETTINGS = (
    *KERNELSPEC_SETTINGS,
    "kernel_docker_image",
    "kernel_docker_memory",
    "kernel_docker_cpus",
)
#: The logo files every environment kernelspec carries (Jupyter's resource names).
LOGO_DIR = Path(__file__).parent / "kernel_logo"
LOGO_FILES = ("logo-svg.svg", "logo-64x64.png", "logo-32x32.png")


def kernelspec_name(environment: str) -> str:
    return f"{KERNELSPEC_PREFIX}{environment}"


def display_name(layer: dict[str, Any]) -> str:
    interpreter = layer.get("interpreter") or ""
    short = ".".join(interpreter.split(".")[:2]) if interpreter else ""
    return f"{layer['name']} (Python {short})" if short else f"{layer['name']} (Python)"


def build_kernelspec(
    layer: dict[str, Any], store: LayerStore, kernel_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The kernel.json of a READY environment layer.

    *kernel_config* (sandbox, mount_root, kernel_env_allow) goes to the provisioner, which
    prefers the same settings recorded in the store (:func:`read_kernel_settings`) and
    uses these only for a store where no server recorded them.
    """
    env_dir = store.version_dir(layer["name"], layer["version"])
    return {
        "argv": [
            str(env_dir / "bin" / "python"),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": display_name(layer),
        "language": layer.get("language") or "python",
        # A signal to the sandbox's process group would kill it: interrupt by message.
        "interrupt_mode": "message",
        "env": {},
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER_NAME,
                "config": {
                    **{k: v for k, v in (kernel_config or {}).items() if k in KERNELSPEC_SETTINGS},
                    "environment": layer["name"],
                    "store_root": str(store.root),
                },
            },
            "pennlayer": {
                "managed": True,
                "environment": layer["name"],
                "version": layer["version"],
                "digest": layer["digest"],
                "store_root": str(store.root),
            },
            "debugger": True,
        },
    }


def write_kernel_settings(store: LayerStore, kernel_config: Mapping[str, Any]) -> None:
    """Record the node's kernel settings in the store, where kernels cannot write.

    A kernelspec is a file in a folder its user may be able to write; the provisioner
    takes these settings from the store instead (:func:`read_kernel_settings`), so an
    edited kernelspec cannot ask for less isolation than the node is configured for.
    """
    settings = {key: kernel_config[key] for key in NODE_KERNEL_SETTINGS if key in kernel_config}
    text = json.dumps(settings, indent=1, sort_keys=True) + "\n"
    path = store.kernel_settings_path
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomically(path, text)


def read_kernel_settings(store: LayerStore) -> dict[str, Any] | None:
    """The node's kernel settings recorded in the store, or None if none were recorded."""
    try:
        settings = json.loads(store.kernel_settings_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise PennLayerError(
            f"{store.kernel_settings_path} cannot be read ({exc}); restart the server to "
            "write it again."
        ) from exc
    if not isinstance(settings, dict):
        raise PennLayerError(f"{store.kernel_settings_path} is not a JSON object.")
    return {key: settings[key] for key in NODE_KERNEL_SETTINGS if key in settings}


def _is_ours(spec_dir: Path, store: LayerStore) -> bool:
    """True for a spec pennlayer wrote for this store, or for a store that no longer exists.

    A spec left behind by a deleted store (a removed test folder, a moved store) points
    nowhere; this store may replace or remove it. Specs of other live stores and specs
    pennlayer did not write are never touched.
    """
    try:
        spec = json.loads((spec_dir / "kernel.json").read_text())
    except (OSError, ValueError):
        return False
    marker = spec.get("metadata", {}).get("pennlayer", {})
    if not isinstance(marker, dict) or not marker.get("managed"):
        return False
    owner = marker.get("store_root")
    if owner == str(store.root):
        return True
    return isinstance(owner, str) and not (Path(owner) / "catalog.sqlite").exists()


def _write_logos(spec_dir: Path) -> bool:
    """Put pennlayer's logo files in *spec_dir* where missing or different."""
    changed = False
    spec_dir.mkdir(exist_ok=True)
    for name in LOGO_FILES:
        data = (LOGO_DIR / name).read_bytes()
        target = spec_dir / name
        try:
            if target.read_bytes() == data:
                continue
        except OSError:
            pass
        write_atomically(target, data)
        changed = True
    return changed


def sync_kernelspecs(
    catalog: Catalog,
    store: LayerStore,
    kernels_dir: Path,
    kernel_config: Mapping[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Make *kernels_dir*, and the store's own ``kernels`` folder, hold exactly one spec
    per READY environment of this store.

    *kernels_dir* is on the Jupyter data path (the Launcher, ``jupyter kernelspec list``,
    nbconvert, papermill), where another live store may have written a spec of the same
    name first: that one is left alone. The store's own folder has only this store's, and
    a server on this store looks there first (``PennLayerApp``), so its kernels always
    run its own environments. Returns what changed in *kernels_dir*, and the names held
    there by a kernelspec that is not this store's ("held").
    """
    # An environment with a current version can run kernels, also while a rebuild runs.
    with catalog.transaction() as conn:
        environments = catalog.list_layers(conn, kind="environment")
    wanted = {
        kernelspec_name(layer["name"]): layer
        for layer in environments
        if layer["version"] is not None
    }
    if kernels_dir.absolute() != store.kernels_dir:
        _sync_folder(store, store.kernels_dir, wanted, kernel_config)
    return _sync_folder(store, kernels_dir, wanted, kernel_config)


def _sync_folder(
    store: LayerStore,
    kernels_dir: Path,
    wanted: Mapping[str, dict[str, Any]],
    kernel_config: Mapping[str, Any] | None,
) -> dict[str, list[str]]:
    written, removed, held = [], [], []
    kernels_dir.mkdir(parents=True, exist_ok=True)
    for spec_name, layer in sorted(wanted.items()):
        spec_dir = kernels_dir / spec_name
        spec = build_kernelspec(layer, store, kernel_config)
        text = json.dumps(spec, indent=1, sort_keys=True) + "\n"
        current = spec_dir / "kernel.json"
        if spec_dir.exists() and not _is_ours(spec_dir, store):
            held.append(spec_name)  # somebody else's kernelspec of that name: left alone
            continue
        changed = not current.exists() or current.read_text(encoding="utf-8") != text
        if changed:
            spec_dir.mkdir(exist_ok=True)
        changed |= _write_logos(spec_dir)
        if changed:
            # The spec last: a listing that finds it finds its logos too.
            write_atomically(current, text)
            written.append(spec_name)
    for spec_dir in sorted(kernels_dir.glob(f"{KERNELSPEC_PREFIX}*")):
        if spec_dir.name not in wanted and _is_ours(spec_dir, store):
            remove_tree(spec_dir)
            removed.append(spec_dir.name)
    return {"written": written, "removed": removed, "held": held}
