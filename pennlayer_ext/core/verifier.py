"""The periodic integrity check: ``python -m pennlayer_ext.core.verifier STORE``.

The server starts it now and then (``PennLayerApp.verify_interval_hours``), in its own
process so reading every byte of every layer never competes with requests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .catalog import Catalog
from .store import LayerStore
from .verify import verify_versions


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m pennlayer_ext.core.verifier STORE", file=sys.stderr)
        return 2
    store = LayerStore(args[0])
    results = verify_versions(Catalog(store.catalog_path), store)
    drifted = [r for r in results if r["drift"]]
    for result in drifted:
        print(f"pennlayer: {result['layer']}: {result['drift']}", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
