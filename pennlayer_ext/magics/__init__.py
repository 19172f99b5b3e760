"""The ``%layer`` magics: see, build, fill and save layers without leaving the notebook.

pennlayer's provisioner copies this package into every session's overlay as
``pennlayer_magics`` and starts the kernel with ``--ext=pennlayer_magics``, so the
environment's own interpreter imports it without pennlayer installed. It needs only the
standard library and IPython (ipywidgets when the environment has it), and talks to the
server over REST with the session's token (see ``client.py``).
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from .commands import LayerMagics

    ipython.register_magics(LayerMagics)
