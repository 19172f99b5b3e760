"""A package index folder over HTTP on loopback, as an index's file host serves it.

    python bench/index_server.py --directory /srv/pypi --port 8765

Python's own ``http.server`` with what an installer relies on from a real file host:
byte ranges (uv reads a wheel's metadata from the end of the file instead of
downloading the wheel twice, once to resolve and once to install) and persistent
connections (HTTP/1.1). One thread per connection; request lines are not logged.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeHandler(SimpleHTTPRequestHandler):
    """Files with ``Accept-Ranges: bytes`` and one range per request when asked."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def do_GET(self) -> None:
        wanted = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if wanted is None or not os.path.isfile(path):
            super().do_GET()
            return
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            first, last = wanted.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:  # the last N bytes
                start, end = max(0, size - int(last or 0)), size - 1
            if start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            file.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = file.read(min(remaining, 1024 * 1024))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def copyfile(self, source: Any, outputfile: Any) -> None:
        shutil.copyfileobj(source, outputfile, 1024 * 1024)


class IndexServer(ThreadingHTTPServer):
    # An installer opens dozens of connections at once: with the default backlog of 5
    # the kernel drops their handshakes, and each dropped one waits a second to retry.
    request_queue_size = 256
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    handler = partial(RangeHandler, directory=args.directory)
    with IndexServer(("127.0.0.1", args.port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
