"""The REST routes of pennlayer, all under /pennlayer/ (the server adds its base URL)."""

from __future__ import annotations

from .jobs import (
    EnvironmentsHandler,
    JobHandler,
    JobLogHandler,
    JobsHandler,
    KernelSessionHandler,
    SessionsHandler,
)
from .layers import BuildHandler, LayerHandler, LayersHandler, PopulateHandler
from .node import NodeHandler, NotFoundHandler
from .runs import LayerUsageHandler, RerunHandler, RunHandler, RunsHandler

# The path segment a layer name may occupy in a URL. It is deliberately wider than the
# naming rule, so that a bad name reaches the validator and gets its message (400),
# not a bare 404.
_NAME = r"(?P<name>[^/]+)"
_JOB = r"(?P<job_id>[^/]+)"
_RUN = r"(?P<run_id>[^/]+)"

default_handlers = [
    (r"/pennlayer/layers/?", LayersHandler),
    (rf"/pennlayer/layers/{_NAME}/?", LayerHandler),
    (rf"/pennlayer/layers/{_NAME}/build/?", BuildHandler),
    (rf"/pennlayer/layers/{_NAME}/populate/?", PopulateHandler),
    (rf"/pennlayer/layers/{_NAME}/usage/?", LayerUsageHandler),
    (r"/pennlayer/jobs/?", JobsHandler),
    (rf"/pennlayer/jobs/{_JOB}/?", JobHandler),
    (rf"/pennlayer/jobs/{_JOB}/log/?", JobLogHandler),
    (r"/pennlayer/environments/?", EnvironmentsHandler),
    (r"/pennlayer/sessions/?", SessionsHandler),
    (r"/pennlayer/sessions/(?P<kernel_id>[^/]+)/?", KernelSessionHandler),
    (r"/pennlayer/runs/?", RunsHandler),
    (rf"/pennlayer/runs/{_RUN}/?", RunHandler),
    (rf"/pennlayer/runs/{_RUN}/rerun/?", RerunHandler),
    (r"/pennlayer/node/?", NodeHandler),
    (r"/pennlayer/(?P<path>.*)", NotFoundHandler),
]
