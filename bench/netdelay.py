"""A delaying TCP relay: a network with latency where the kernel has no tc netem.

    python bench/netdelay.py --upstream 127.0.0.1:9000[,127.0.0.1:9001] [--delay-ms 10]
        [--window-mib 4] [--rate-mbit 100] [--port 0]

Prints the port it listens on, then forwards each connection to the next upstream in
turn (several server processes share the load). Each byte reaches the other side
--delay-ms late, in both directions, and each direction of a connection has at most
--window-mib bytes that the far side has not acknowledged yet: a byte counts until its
acknowledgement would be back, one delay after it reached the far side (one round trip
after it was read when the far side keeps up), as with a TCP window. So one connection
moves at most window / round trip (4 MiB / 20 ms = 210 MB/s), like a TCP connection
whose window stopped growing there; several connections add up. Setting up a
connection is not delayed (a real one costs a round trip; clients here reuse theirs).
With --rate-mbit, all connections share one link of that rate in each direction: a
byte leaves only once the bytes read before it (on any connection) have gone through,
as behind a site's uplink; what waits for the link counts in its connection's window.

One thread, one process, non-blocking sockets and reads of up to 1 MiB: the relay costs
about 0.5-0.8 s of CPU per GB moved (far less than the S3 server or boto3), and it never
holds the bench's interpreter lock (it runs as a process of its own).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import heapq
import itertools
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

READ_BYTES = 1024**2


class Direction:
    """Bytes from *source* to *sink*: read when the window allows, sent when due."""

    def __init__(
        self, source: socket.socket, sink: socket.socket, relay: Relay, upstream: bool
    ) -> None:
        self.source, self.sink, self.relay, self.upstream = source, sink, relay, upstream
        self.queue: collections.deque[tuple[float, memoryview]] = collections.deque()
        self.unacknowledged = 0
        self.ended = False  # the source sent its end; it is queued like data
        self.closed = False

    def readable(self) -> bool:
        return not (self.ended or self.closed) and self.unacknowledged < self.relay.window

    def read(self) -> None:
        room = min(self.relay.read_bytes, self.relay.window - self.unacknowledged)
        try:
            data = self.source.recv(room)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:
            self.ended = True
        self.unacknowledged += len(data)
        due = self.relay.through_link(self.upstream, now, len(data)) + self.relay.delay
        self.queue.append((due, memoryview(data)))
        self.relay.later(due, self.deliver, 0)

    def acknowledge(self, count: int) -> None:
        self.unacknowledged -= count

    def deliver(self, _: int) -> None:
        """Send what is due; what the sink does not take yet waits for it to drain."""
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now and not self.closed:
            due, data = self.queue[0]
            if not data:
                self.queue.popleft()
                with contextlib.suppress(OSError):
                    self.sink.shutdown(socket.SHUT_WR)
                self.closed = True
                return
            try:
                sent = self.sink.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.closed = True
                return
            if sent:
                # The acknowledgement of what arrived travels back: the window opens then.
                self.relay.later(now + self.relay.delay, self.acknowledge, sent)
            if sent < len(data):
                self.queue[0] = (due, data[sent:])
                self.relay.blocked.add(self)
                return
            self.queue.popleft()
        self.relay.blocked.discard(self)


class Relay:
    def __init__(
        self,
        listen: socket.socket,
        upstreams: list[tuple[str, int]],
        delay: float,
        window: int,
        rate: float | None = None,
    ) -> None:
        self.listen, self.delay, self.window, self.rate = listen, delay, window, rate
        # Behind a link, reads of 5 ms of its time (a 1 MiB read would leave as one burst).
        self.read_bytes = READ_BYTES
        if rate is not None:
            self.read_bytes = max(16384, min(READ_BYTES, int(rate / 200)))
        self.link_free = {True: 0.0, False: 0.0}  # when each direction's link is free again
        self.upstreams = itertools.cycle(upstreams)
        self.selector = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Any, int]] = []
        self.counter = itertools.count()
        self.directions: list[Direction] = []
        self.blocked: set[Direction] = set()
        self.masks: dict[socket.socket, int] = {}
        self.reading: dict[socket.socket, Direction] = {}
        self.writing: dict[socket.socket, Direction] = {}

    def later(self, when: float, call: Any, argument: int) -> None:
        heapq.heappush(self.timers, (when, next(self.counter), call, argument))

    def through_link(self, upstream: bool, now: float, count: int) -> float:
        """When *count* bytes read now have gone through the link (now, without one)."""
        if self.rate is None:
            return now
        done = max(now, self.link_free[upstream]) + count / self.rate
        self.link_free[upstream] = done
        return done

    def accept(self) -> None:
        client, _ = self.listen.accept()
        try:
            server = socket.create_connection(next(self.upstreams))
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, sink, upstream in ((client, server, True), (server, client, False)):
            direction = Direction(source, sink, self, upstream)
            self.directions.append(direction)
            self.reading[source] = self.writing[sink] = direction

    def run(self) -> None:
        self.listen.setblocking(False)
        while True:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, call, argument = heapq.heappop(self.timers)
                call(argument)
            self._watch()
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
            for key, events in self.selector.select(timeout):
                if key.fileobj is self.listen:
                    self.accept()
                    continue
                sock = key.fileobj
                if events & selectors.EVENT_READ and self.reading[sock].readable():  # type: ignore[index]
                    self.reading[sock].read()  # type: ignore[index]
                if events & selectors.EVENT_WRITE:
                    self.writing[sock].deliver(0)  # type: ignore[index]
            self._reap()

    def _watch(self) -> None:
        """Tell the selector what each socket waits for now (only the changes)."""
        wanted: dict[socket.socket, int] = {self.listen: selectors.EVENT_READ}
        for direction in self.directions:
            if direction.readable():
                wanted[direction.source] = wanted.get(direction.source, 0) | selectors.EVENT_READ
            if direction in self.blocked:
                wanted[direction.sink] = wanted.get(direction.sink, 0) | selectors.EVENT_WRITE
        for sock in list(self.masks):
            if sock not in wanted:
                self.selector.unregister(sock)
                del self.masks[sock]
        for sock, mask in wanted.items():
            if sock not in self.masks:
                self.selector.register(sock, mask)
            elif self.masks[sock] != mask:
                self.selector.modify(sock, mask)
            self.masks[sock] = mask

    def _reap(self) -> None:
        """Close a connection once both directions delivered their end (or failed)."""
        done: set[socket.socket] = set()
        for one, other in zip(self.directions[::2], self.directions[1::2], strict=True):
            if one.closed and other.closed:
                done |= {one.source, one.sink}
        if not done:
            return
        self.directions = [d for d in self.directions if d.source not in done]
        self.blocked = {d for d in self.blocked if d.source not in done}
        for sock in done:
            if sock in self.masks:
                self.selector.unregister(sock)
                del self.masks[sock]
            del self.reading[sock], self.writing[sock]
            sock.close()


def start_relay(
    ports: list[int], delay_ms: float, window_mib: float, rate_mbit: float | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """This relay, as a process of its own, in front of servers on loopback *ports*: the
    process and the port it listens on."""
    upstream = ",".join(f"127.0.0.1:{port}" for port in ports)
    argv = [sys.executable, str(Path(__file__).resolve()), "--upstream", upstream]
    argv += ["--delay-ms", str(delay_ms), "--window-mib", str(window_mib)]
    if rate_mbit is not None:
        argv += ["--rate-mbit", str(rate_mbit)]
    relay = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert relay.stdout is not None
    return relay, int(relay.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port[,host:port...]")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay")
    parser.add_argument("--window-mib", type=float, default=4.0, help="per direction")
    parser.add_argument(
        "--rate-mbit", type=float, help="a link of this rate shared by all (default: none)"
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    upstreams = []
    for item in args.upstream.split(","):
        host, _, port = item.rpartition(":")
        upstreams.append((host, int(port)))
    listen = socket.create_server(("127.0.0.1", args.port), backlog=256)
    print(listen.getsockname()[1], flush=True)
    window = int(args.window_mib * 1024**2)
    try:
        rate = args.rate_mbit * 1e6 / 8 if args.rate_mbit else None
        Relay(listen, upstreams, args.delay_ms / 1000, window, rate).run()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
