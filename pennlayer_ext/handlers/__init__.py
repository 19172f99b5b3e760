"""The REST routes of pennlayer, all under /pennlayer/ (the server adds its base URL)."""

from __future__ import annotations

from .caller_runs import CallerRunEndHandler, CallerRunReportHandler, CallerRunsHandler
from .jobs import (
    EnvironmentsHandler,
    JobHandler,
    JobLogHandler,
    JobsHandler,
    KernelSessionHandler,
    SessionsHandler,
)
from .kernel_sessions import (
    KernelCloseHandler,
    KernelProcessHandler,
    KernelSessionsHandler,
    SessionTokenHandler,
)
from .layers import (
    ArchiveHandler,
    BuildHandler,
    LayerChangesHandler,
    LayerHandler,
    LayersHandler,
    PopulateHandler,
    RestoreHandler,
)
from .node import NodeHandler, NotFoundHandler
from .runs import LayerUsageHandler, RerunHandler, RunHandler, RunsHandler
from .sessions import SessionChangesHandler, SessionSaveHandler

# The path segment a layer name may occupy in a URL. It is deliberately wider than the
# naming rule, so that a bad name reaches the validator and gets its message (400),
# not a bare 404.
_NAME = r"(?P<name>[^/]+)"
_JOB = r"(?P<job_id>[^/]+)"
_RUN = r"(?P<run_id>[^/]+)"
_KERNEL = r"(?P<kernel_id>[^/]+)"
_SESSION = r"(?P<session_id>[^/]+)"

default_handlers = [
    (r"/pennlayer/layers/?", LayersHandler),
    (r"/pennlayer/layer-changes/?", LayerChangesHandler),
    (rf"/pennlayer/layers/{_NAME}/?", LayerHandler),
    (rf"/pennlayer/layers/{_NAME}/build/?", BuildHandler),
    (rf"/pennlayer/layers/{_NAME}/populate/?", PopulateHandler),
    (rf"/pennlayer/layers/{_NAME}/usage/?", LayerUsageHandler),
    (rf"/pennlayer/layers/{_NAME}/archive/?", ArchiveHandler),
    (rf"/pennlayer/layers/{_NAME}/restore/?", RestoreHandler),
    (r"/pennlayer/jobs/?", JobsHandler),
    (rf"/pennlayer/jobs/{_JOB}/?", JobHandler),
    (rf"/pennlayer/jobs/{_JOB}/log/?", JobLogHandler),
    (r"/pennlayer/environments/?", EnvironmentsHandler),
    (r"/pennlayer/sessions/?", SessionsHandler),
    (rf"/pennlayer/sessions/{_KERNEL}/?", KernelSessionHandler),
    (rf"/pennlayer/sessions/{_KERNEL}/changes/?", SessionChangesHandler),
    (rf"/pennlayer/sessions/{_KERNEL}/save/?", SessionSaveHandler),
    (r"/pennlayer/kernel-sessions/?", KernelSessionsHandler),
    (r"/pennlayer/kernel-sessions/token/?", SessionTokenHandler),
    (rf"/pennlayer/kernel-sessions/{_SESSION}/process/?", KernelProcessHandler),
    (rf"/pennlayer/kernel-sessions/{_SESSION}/close/?", KernelCloseHandler),
    (r"/pennlayer/runs/?", RunsHandler),
    (rf"/pennlayer/runs/{_RUN}/?", RunHandler),
    (rf"/pennlayer/runs/{_RUN}/rerun/?", RerunHandler),
    (r"/pennlayer/caller-runs/?", CallerRunsHandler),
    (rf"/pennlayer/caller-runs/{_RUN}/report/?", CallerRunReportHandler),
    (rf"/pennlayer/caller-runs/{_RUN}/end/?", CallerRunEndHandler),
    (r"/pennlayer/node/?", NodeHandler),
    (r"/pennlayer/(?P<path>.*)", NotFoundHandler),
]
