"""Server configuration for the browser test with 10,000 layers (many-layers.spec.ts).

A server of its own, so the other tests keep their small, fresh store. The layers are
test data, not the thing under test: they are written through the core's catalog in one
transaction (pennlayer_ext.tests.seed) before the server starts, in a few seconds.
Never use it in production: it opens the server without authentication.
"""

import atexit
import os
import shutil
import tempfile

from jupyterlab.galata import configure_jupyter_server

from pennlayer_ext.tests.seed import seed_layers

configure_jupyter_server(c)  # noqa: F821

LAYER_COUNT = int(os.environ.get("PENNLAYER_GALATA_MANY_LAYERS", "10000"))

_ROOT = tempfile.mkdtemp(prefix="pennlayer-galata-many-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
_STORE = os.path.join(_ROOT, "store")
seed_layers(_STORE, LAYER_COUNT)
c.PennLayerApp.store_root = _STORE  # noqa: F821
