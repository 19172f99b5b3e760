"""Fills in the metadata of a freshly copied welcome notebook from this node's demo layers.

    python scripts/demo-notebook.py WORKSPACE/welcome.ipynb

scripts/run.sh runs it once the demo layers are READY, on a welcome notebook it has just
copied (never on one already in the workspace). JupyterLab writes the same metadata when
the notebook's kernel starts (the kernelspec's display name, the kernel's language_info,
and pennlayer the versions and digests the kernel mounted); with them in the file
already, the notebook opens unmodified. A layer that is not READY is left unrecorded.
"""

import json
import subprocess
import sys
from typing import Any

from pennlayer_ext.core.kernelspecs import display_name


def show(name: str) -> dict[str, Any]:
    """A layer as `jupyter pennlayer show --json` gives it; {} if it cannot be shown."""
    done = subprocess.run(
        ["jupyter", "pennlayer", "show", name, "--json"], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else {}


def language_info(interpreter: str) -> dict[str, Any]:
    """What ipykernel answers in its kernel_info on Python *interpreter* ("3.11.7")."""
    major = int(interpreter.split(".")[0])
    return {
        "codemirror_mode": {"name": "ipython", "version": major},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": f"ipython{major}",
        "version": interpreter,
    }


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        notebook = json.load(handle)
    metadata = notebook["metadata"]
    selection = metadata["pennlayer"]
    names = [selection["environment"], *selection["layers"]]
    layers = {name: show(name) for name in names}
    if any(layer.get("status") != "READY" for layer in layers.values()):
        return
    environment = layers[selection["environment"]]
    metadata["kernelspec"]["display_name"] = display_name(environment)
    metadata["language_info"] = language_info(environment["interpreter"])
    selection["mounted"] = {
        name: {"version": layer["version"], "digest": layer["digest"]}
        for name, layer in layers.items()
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(notebook, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
