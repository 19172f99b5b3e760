"""pennlayer: layers for Jupyter, shared read-only environments and reference data.

Only the extension hooks live here; nothing heavy is imported until Jupyter asks.
"""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # a source checkout that was never built
    __version__ = "0.0.0.dev0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "pennlayer"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import PennLayerApp

    return [{"module": "pennlayer_ext", "app": PennLayerApp}]
