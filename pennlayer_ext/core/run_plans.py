"""A run's plan: the notebook, output, environment, layers, parameters and pinned versions
a run request or a rerun comes to, before anything is recorded.

Making a plan reads notebooks, so it happens where they are: in the store owner's process
for a local manager; in the person's own process on a shared node, whose notebooks the
node service cannot read. The service then takes the plan as untrusted input
(:func:`check_plan`): text paths, names, parameters and pins, checked like any request.

A plan is a dict with the keys of :data:`PLAN_FIELDS`: ``notebook`` and ``output``
(absolute paths; ``output`` None means next to the notebook, named after the run),
``environment``, ``layers``, ``parameters``, ``pins`` (layer -> version and digest to
mount), ``strict`` (a pinned version that is gone stops the run) and ``rerun_of``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .names import validate_name
from .run_requests import (
    MAX_PATH_LENGTH,
    check_flag,
    check_layer_list,
    check_notebook_path,
    check_parameters,
    check_request,
    notebook_selection,
    read_notebook,
)

PLAN_FIELDS = (
    "notebook",
    "output",
    "environment",
    "layers",
    "parameters",
    "pins",
    "strict",
    "rerun_of",
)
_RUN_ID = re.compile(r"[0-9a-f]{4,32}")
_DIGEST = re.compile(r"(sha256|blake3):[0-9a-f]{64}")
MAX_PINS = 64


def plan_start(request: Mapping[str, Any], root_dir: str | None) -> dict[str, Any]:
    """The plan of a run request (the fields of RUN_REQUEST_FIELDS); *root_dir*: REST paths
    are relative to it. Reads the notebook (and an output notebook to run like)."""
    check_request(request)
    notebook, environment = request.get("notebook"), request.get("environment")
    layers, parameters = request.get("layers"), request.get("parameters")
    output, like = request.get("output"), request.get("like")
    accept_newer = check_flag("accept_newer", request.get("accept_newer", False))
    source = check_notebook_path(notebook, "notebook", root_dir)
    given = check_parameters(parameters)
    chosen_layers = check_layer_list(layers)
    if environment is not None:
        validate_name(environment)
    selection = notebook_selection(read_notebook(source, "notebook"), "notebook")
    pins: Mapping[str, Any] = {}
    strict = False
    if like is not None:
        if environment is not None or chosen_layers is not None:
            raise InvalidInput(
                "A run like an output notebook takes its environment and layers from it; "
                "leave out the environment and the layers."
            )
        selection = notebook_selection(
            read_notebook(check_notebook_path(like, "output notebook", root_dir), "output"),
            "output notebook",
        )
        given = {**check_parameters(selection["parameters"]), **given}
        pins, strict = selection["mounted"], True
    elif environment is None and chosen_layers is None:
        pins = selection["mounted"]  # the notebook's own selection, as when reopened
    env = environment if environment is not None else selection["environment"]
    if not env:
        raise InvalidInput(
            "Which environment should run the notebook? Give one (--env, or "
            '"environment"): the notebook names none in metadata.pennlayer.'
        )
    out = check_output(output, source, root_dir)
    chosen = chosen_layers if chosen_layers is not None else selection["layers"] or []
    return {
        "notebook": str(source),
        "output": None if out is None else str(out),
        "environment": validate_name(env),
        "layers": chosen,
        "parameters": given,
        "pins": _usable_pins(pins, [env, *chosen]),
        "strict": strict and not accept_newer,
        "rerun_of": selection["run"] if like is not None else None,
    }


def plan_rerun(
    past: Mapping[str, Any], *, accept_newer: object, output: object, root_dir: str | None
) -> dict[str, Any]:
    """The plan of running *past* (a run's record) again: same notebook, parameters and
    layer versions; the notebook must still be there (and inside *root_dir*, if given)."""
    accept_newer = check_flag("accept_newer", accept_newer)
    source = Path(past["notebook"])
    if root_dir is not None:
        root = Path(os.path.realpath(root_dir))
        if root not in source.parents:
            raise InvalidInput(
                f"Run {past['id']} ran a notebook outside the server's root folder; "
                "rerun it where it was started (jupyter pennlayer rerun)."
            )
    read_notebook(source, "notebook")
    out = check_output(output, source, root_dir)
    return {
        "notebook": str(source),
        "output": None if out is None else str(out),
        "environment": past["environment"],
        "layers": list(past["layers"]),
        "parameters": dict(past["parameters"]),
        "pins": {
            m["layer"]: {"version": m["version"], "digest": m["digest"]} for m in past["mounts"]
        },
        "strict": not accept_newer,
        "rerun_of": past["id"],
    }


def check_output(output: object, source: Path, root_dir: str | None) -> Path | None:
    """Where the output notebook goes; None: next to the notebook, named after the run."""
    if output is None:
        return None
    path = check_notebook_path(output, "output", root_dir)
    if path == source:
        raise InvalidInput("The output must not be the notebook itself: give another name.")
    if not path.parent.is_dir() or path.is_dir():
        raise InvalidInput(f"The output {str(output)!r} is not in an existing folder.")
    return path


def _usable_pins(pins: Mapping[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """The well-formed pins of the layers a run mounts (a notebook's metadata may hold
    anything; what is not a version and a digest is not a pin)."""
    usable = {}
    for name in names:
        pin = pins.get(name)
        if isinstance(pin, Mapping):
            version, digest = pin.get("version"), pin.get("digest")
            if (
                isinstance(version, int)
                and not isinstance(version, bool)
                and isinstance(digest, str)
            ):
                usable[name] = {"version": version, "digest": digest}
    return usable


def default_output(notebook: str, run_id: str) -> str:
    """The output's path when the request names none: beside the notebook."""
    source = Path(notebook)
    return str(source.with_name(f"{source.stem}-run-{run_id[:8]}.ipynb"))


def check_plan(plan: object) -> dict[str, Any]:
    """A plan from another process (a person's server through the node service), checked
    field by field without reading any file: the paths are the caller's own."""
    if not isinstance(plan, Mapping):
        raise InvalidInput("A run plan must be an object.")
    unknown = sorted(set(plan) - set(PLAN_FIELDS))
    missing = sorted(set(PLAN_FIELDS) - set(plan) - {"output", "rerun_of"})
    if unknown or missing:
        raise InvalidInput(
            f"A run plan has the fields {', '.join(PLAN_FIELDS)}"
            + (f"; unknown: {', '.join(map(repr, unknown))}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + "."
        )
    notebook = _absolute_notebook(plan["notebook"], "notebook")
    output = plan.get("output")
    if output is not None:
        output = _absolute_notebook(output, "output")
        if output == notebook:
            raise InvalidInput("The output must not be the notebook itself: give another name.")
    layers = check_layer_list(plan["layers"])
    rerun_of = plan.get("rerun_of")
    if rerun_of is not None and not (isinstance(rerun_of, str) and _RUN_ID.fullmatch(rerun_of)):
        raise InvalidInput("rerun_of must be a run id.")
    return {
        "notebook": notebook,
        "output": output,
        "environment": validate_name(plan["environment"]),
        "layers": layers or [],
        "parameters": check_parameters(plan["parameters"]),
        "pins": _check_pins(plan["pins"]),
        "strict": check_flag("strict", plan["strict"]),
        "rerun_of": rerun_of,
    }


def _absolute_notebook(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.endswith(".ipynb") or not os.path.isabs(value):
        raise InvalidInput(f"The {what} must be the absolute path of a .ipynb file.")
    if len(value) > MAX_PATH_LENGTH or "\x00" in value or "\n" in value:
        raise InvalidInput(f"The {what} path is too long or holds a control character.")
    if os.path.normpath(value) != value:
        raise InvalidInput(f"The {what} path must be normalised (no '..', '.', '//').")
    return value


def _check_pins(pins: object) -> dict[str, dict[str, Any]]:
    """Layer -> {version, digest}: the versions a notebook or a past run recorded."""
    if not isinstance(pins, Mapping) or len(pins) > MAX_PINS:
        raise InvalidInput(f"pins must be an object of at most {MAX_PINS} layers.")
    checked = {}
    for name, pin in pins.items():
        validate_name(name)
        if not isinstance(pin, Mapping):
            raise InvalidInput(f"The pin of {name!r} must be an object with version and digest.")
        version, digest = pin.get("version"), pin.get("digest")
        if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
            raise InvalidInput(f"The pinned version of {name!r} must be a positive whole number.")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise InvalidInput(
                f"The pinned digest of {name!r} must be 'blake3:' or 'sha256:' and 64 hex digits."
            )
        checked[name] = {"version": version, "digest": digest}
    return checked
