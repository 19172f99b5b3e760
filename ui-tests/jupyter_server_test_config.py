"""Server configuration for the browser tests.

Never use it in production: it opens the server without authentication and
exposes JupyterLab's JavaScript objects to the page.
"""

import atexit
import os
import shutil
import tempfile

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

# Every test server gets a fresh, empty layer store, so tests never touch a
# user's layers and always start from the same state.
_ROOT = tempfile.mkdtemp(prefix="pennlayer-galata-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
c.PennLayerApp.store_root = os.path.join(_ROOT, "store")  # noqa: F821

# A folder loaders may read from, next to the store, with a small sample
# genome. Tests find it as `sources` beside the store_root of GET /pennlayer/node.
_SOURCES = os.path.join(_ROOT, "sources")
os.makedirs(os.path.join(_SOURCES, "genome"))
with open(os.path.join(_SOURCES, "genome", "chr1.fa"), "w", encoding="utf-8") as sample:
    sample.write(">chr1 galata sample\nACGTACGTNNACGT\n")
# A table of exactly 1,500 bytes, for sizes the snapshots can show ("1.5 kB").
os.makedirs(os.path.join(_SOURCES, "table"))
with open(os.path.join(_SOURCES, "table", "values.csv"), "w", encoding="utf-8") as table:
    table.write("value\n" + "".join(f"{index:09d}\n" for index in range(149)) + "123\n")
c.PennLayerApp.allowed_source_roots = [_SOURCES]  # noqa: F821
