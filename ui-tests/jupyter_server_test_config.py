"""Server configuration for the browser tests.

Never use it in production: it opens the server without authentication and
exposes JupyterLab's JavaScript objects to the page.
"""

import tempfile

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

# Every test server gets a fresh, empty layer store, so tests never touch a
# user's layers and always start from the same state.
c.PennLayerApp.store_root = tempfile.mkdtemp(prefix="pennlayer-galata-")  # noqa: F821
