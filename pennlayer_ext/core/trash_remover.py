"""The trash remover process: ``python -m pennlayer_ext.core.trash_remover STORE [--detach]``.

Kept apart from :mod:`.trash` (which the rest of the core imports) so that running it
as ``__main__`` never loads the same module twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .store import LayerStore
from .trash import empty


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    detach = "--detach" in args
    args = [arg for arg in args if arg != "--detach"]
    if len(args) != 1:
        print("usage: python -m pennlayer_ext.core.trash_remover STORE [--detach]", file=sys.stderr)
        return 2
    if detach and os.fork() > 0:
        os._exit(0)  # the starter only waits for this first process
    empty(LayerStore(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
