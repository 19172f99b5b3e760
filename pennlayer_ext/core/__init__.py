"""The pennlayer core: catalog, names, store layout and layer operations.

Nothing in this package imports tornado or Jupyter; the server extension, the CLI and
the kernel provisioner are thin shells over it. The facade and the layer rules are
imported on first use: a job's worker process (``python -m pennlayer_ext.core.worker``)
needs neither, and starts faster without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import Conflict, InvalidInput, InvalidName, NotFound, PayloadTooLarge, PennLayerError
from .names import MAX_NAME_LENGTH, NAME_PATTERN, validate_name

if TYPE_CHECKING:
    from .api import LayerManagerAPI
    from .layers import LAYER_FIELDS, LAYER_KINDS, STATUSES
    from .manager import LayerManager

_LAZY = {
    "LayerManagerAPI": ".api",
    "LAYER_FIELDS": ".layers",
    "LAYER_KINDS": ".layers",
    "STATUSES": ".layers",
    "LayerManager": ".manager",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "LAYER_FIELDS",
    "LAYER_KINDS",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "STATUSES",
    "Conflict",
    "InvalidInput",
    "InvalidName",
    "LayerManager",
    "LayerManagerAPI",
    "NotFound",
    "PayloadTooLarge",
    "PennLayerError",
    "validate_name",
]
