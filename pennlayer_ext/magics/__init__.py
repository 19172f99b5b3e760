"""The ``%layer`` magics: see, build, fill and save layers without leaving the notebook.

pennlayer's provisioner copies this package into every session's overlay as
``pennlayer_magics`` and starts the kernel with ``--ext=pennlayer_magics``, so the
environment's own interpreter imports it without pennlayer installed. It needs only the
standard library and IPython (ipywidgets when the environment has it), and talks to the
server over REST with the session's token (see ``client.py``).

Loading the extension only registers ``%layer``: its modules (and urllib) are imported at
its first use, so a kernel starts as fast as one without the magics.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    magics: Any = None

    def layer(line: str, cell: str | None = None) -> Any:
        nonlocal magics
        if magics is None:
            from .commands import LayerMagics

            magics = LayerMagics(shell=ipython)
        return magics.layer(line, cell)

    layer.__doc__ = "See, build, fill and save layers: ``%layer help`` lists the subcommands."
    ipython.register_magic_function(layer, magic_kind="line_cell", magic_name="layer")
