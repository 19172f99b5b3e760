"""Configuration of the demo that scripts/run.sh starts (JupyterLab and the CLI).

Loaders may read local folders only inside PennLayerApp.allowed_source_roots: the demo
allows its workspace's data folder (PENNLAYER_DEMO_WORKSPACE/data), which you can load
into a new reference layer from the Layers panel, and this repository's demo-data
folder, the source of the demo-reference layer (so "Re-run loader" works too).
"""

import os

_roots = []
_workspace = os.environ.get("PENNLAYER_DEMO_WORKSPACE")
if _workspace:
    _roots.append(os.path.join(os.path.abspath(_workspace), "data"))
_roots.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo-data"))

c.PennLayerApp.allowed_source_roots = _roots  # noqa: F821
