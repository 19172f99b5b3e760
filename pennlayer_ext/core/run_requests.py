"""What a run request may ask for: notebook paths, parameters, layers, and what a
notebook's metadata selects. The checks of :mod:`.runs`, the same for every shell."""

from __future__ import annotations

import json
import keyword
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .kernelspecs import KERNELSPEC_PREFIX
from .names import validate_name

#: What a run request may hold (REST body, CLI options): the notebook, and optionally the
#: environment and reference layers, papermill parameters, the output path, an output
#: notebook to run like, and whether newer versions may replace recorded ones.
RUN_REQUEST_FIELDS = (
    "notebook",
    "environment",
    "layers",
    "parameters",
    "output",
    "like",
    "accept_newer",
)
MAX_PATH_LENGTH = 4096
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_PARAMETERS = 100
MAX_PARAMETERS_BYTES = 64 * 1024


def check_request(request: object) -> None:
    if not isinstance(request, Mapping):
        raise InvalidInput("A run request is an object with at least a 'notebook'.")
    unknown = sorted(set(request) - set(RUN_REQUEST_FIELDS))
    if unknown:
        raise InvalidInput(
            f"Unknown run request field(s) {', '.join(map(repr, unknown))}: use "
            f"{', '.join(map(repr, RUN_REQUEST_FIELDS))}."
        )


def check_notebook_path(value: object, what: str, root_dir: str | None) -> Path:
    """A notebook path of a request, resolved: inside *root_dir* (REST paths are relative
    to the server's root) or absolute (the CLI's, made absolute where the user typed it)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Give the {what} as the path of a .ipynb file.")
    if len(value) > MAX_PATH_LENGTH or "\x00" in value:
        raise InvalidInput(f"The {what} path is too long or holds a NUL character.")
    if not value.endswith(".ipynb"):
        raise InvalidInput(f"The {what} must be a notebook (.ipynb), not {value!r}.")
    if root_dir is None:
        if not os.path.isabs(value):
            raise InvalidInput(f"The {what} must be an absolute path, not {value!r}.")
        return Path(os.path.realpath(value))
    root = Path(os.path.realpath(root_dir))
    path = Path(os.path.realpath(root / value.lstrip("/")))
    if root not in path.parents:
        raise InvalidInput(f"The {what} {value!r} is outside the server's root folder.")
    return path


def read_notebook(path: Path, what: str) -> dict[str, Any]:
    """The notebook at *path* as JSON; InvalidInput if it is missing, huge or not one."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise InvalidInput(f"The {what} is over {MAX_NOTEBOOK_BYTES >> 20} MiB.")
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"The {what} {str(path)!r} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"The {what} {str(path)!r} cannot be read as a notebook: {exc}") from exc
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise InvalidInput(f"The {what} {str(path)!r} is not a Jupyter notebook.")
    return notebook


def check_parameters(parameters: object) -> dict[str, Any]:
    """Papermill parameters: Python names with JSON values (numbers, text, lists...)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise InvalidInput("The parameters must be an object of NAME: value pairs.")
    if len(parameters) > MAX_PARAMETERS:
        raise InvalidInput(f"{len(parameters)} parameters given; at most {MAX_PARAMETERS}.")
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidInput(
                f"{name!r} cannot be a parameter: use a Python name such as 'alpha' or 'n_samples'."
            )
    try:
        encoded = json.dumps(dict(parameters), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"The parameters are not plain JSON values: {exc}.") from exc
    if len(encoded) > MAX_PARAMETERS_BYTES:
        raise InvalidInput(f"The parameters take {len(encoded)} bytes; at most 64 KiB.")
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


def check_layer_list(layers: object) -> list[str] | None:
    if layers is None:
        return None
    if not isinstance(layers, list | tuple) or not all(isinstance(n, str) for n in layers):
        raise InvalidInput("The layers must be a list of layer names.")
    return [validate_name(name) for name in dict.fromkeys(layers)]


def notebook_selection(notebook: Mapping[str, Any], what: str) -> dict[str, Any]:
    """What a notebook's metadata asks for: ``metadata.pennlayer`` (environment, layers,
    mounted versions, and the parameters of the run that wrote it), or its kernelspec."""
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    selection = metadata.get("pennlayer") or {}
    if not isinstance(selection, dict):
        raise InvalidInput(f"The {what}'s metadata.pennlayer must be an object.")
    environment = selection.get("environment")
    kernel = (metadata.get("kernelspec") or {}).get("name") or ""
    if not environment and isinstance(kernel, str) and kernel.startswith(KERNELSPEC_PREFIX):
        environment = kernel.removeprefix(KERNELSPEC_PREFIX)
    mounted = selection.get("mounted") or {}
    run = selection.get("run") or {}
    if not isinstance(mounted, dict) or not isinstance(run, dict):
        raise InvalidInput(f"The {what}'s metadata.pennlayer is not one pennlayer wrote.")
    return {
        "environment": environment or None,
        "layers": check_layer_list(selection.get("layers") or []),
        "mounted": mounted,
        "parameters": run.get("parameters") or {},
        "run": run.get("id"),
    }


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false.")
    return value
