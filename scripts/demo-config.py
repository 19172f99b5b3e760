"""Configuration scripts/run.sh uses to load the demo reference layer from this repository."""

import os

c.PennLayerApp.allowed_source_roots = [  # noqa: F821
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo-data")
]
