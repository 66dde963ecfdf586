"""Which TCP ports a process listens on, read from /proc (Linux): to prove that a launcher opens
only the ports it was given."""

from __future__ import annotations

import os
from pathlib import Path


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state whose socket belongs to ``pid`` (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
