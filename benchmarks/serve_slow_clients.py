"""How long a normal client waits for ``sloctl serve`` while slow clients drip their requests a
byte a second (slowloris), more of them than the server's connection threads
(docs/benchmarks.md).

    .venv/bin/python benchmarks/serve_slow_clients.py --port PORT [--clients 70] [--seconds 50]

PORT is a running ``sloctl serve`` on 127.0.0.1 (``sloctl serve --demo --listen 127.0.0.1:0``
prints it). The slow clients connect first; once they have, one normal ``GET /healthz`` is sent
and the seconds until its answer printed, with the number of slow clients the server dropped.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

#: Seconds between two bytes of a slow client: slowloris' pace, well within any idle timeout.
DRIP_SECONDS = 1.0
#: Seconds the slow clients are given to connect before the normal client is sent.
SETTLE_SECONDS = 3.0
#: A request line and header lines enough to drip for longer than any run.
SLOW_REQUEST = b"GET / HTTP/1.1\r\n" + b"X-a: b\r\n" * 1000


def _drip(port: int, until: float, dropped: list[int]) -> None:
    """Connect and send :data:`SLOW_REQUEST` a byte at a time until ``until``; a refused send
    (the server closed the connection) is counted in ``dropped``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            for byte in SLOW_REQUEST:
                if time.monotonic() > until:
                    return
                conn.send(bytes([byte]))
                time.sleep(DRIP_SECONDS)
    except OSError:
        dropped.append(1)


def _normal_wait(port: int, timeout: float) -> float:
    """Seconds from connecting to the first byte of the answer to ``GET /healthz``."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        if not conn.recv(1):
            raise SystemExit("the server closed the normal client's connection without an answer")
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=70, help="slow clients (default 70)")
    parser.add_argument("--seconds", type=float, default=50.0, help="how long they drip (default 50)")
    args = parser.parse_args()
    until = time.monotonic() + args.seconds
    dropped: list[int] = []
    slow = [threading.Thread(target=_drip, args=(args.port, until, dropped)) for _ in range(args.clients)]
    for thread in slow:
        thread.start()
    time.sleep(SETTLE_SECONDS)
    waited = _normal_wait(args.port, args.seconds + 10)
    for thread in slow:
        thread.join()
    print(f"{args.clients} slow clients: the normal client waited {waited:.1f} s; {len(dropped)} dropped")


if __name__ == "__main__":
    main()
