"""The pennlayer core: catalog, names, store layout and layer operations.

Nothing in this package imports tornado or Jupyter; the server extension, the CLI and
the kernel provisioner are thin shells over it.
"""

from .api import LayerManagerAPI
from .errors import Conflict, InvalidInput, InvalidName, NotFound, PayloadTooLarge, PennLayerError
from .layers import LAYER_FIELDS, LAYER_KINDS, STATUSES
from .manager import LayerManager
from .names import MAX_NAME_LENGTH, NAME_PATTERN, validate_name

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
