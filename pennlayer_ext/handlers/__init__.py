"""The REST routes of pennlayer, all under /pennlayer/ (the server adds its base URL)."""

from __future__ import annotations

from .layers import LayerHandler, LayersHandler
from .node import NodeHandler, NotFoundHandler

# The path segment a layer name may occupy in a URL. It is deliberately wider than the
# naming rule, so that a bad name reaches the validator and gets its message (400),
# not a bare 404.
_NAME = r"(?P<name>[^/]+)"

default_handlers = [
    (r"/pennlayer/layers/?", LayersHandler),
    (rf"/pennlayer/layers/{_NAME}/?", LayerHandler),
    (r"/pennlayer/node/?", NodeHandler),
    (r"/pennlayer/(?P<path>.*)", NotFoundHandler),
]
