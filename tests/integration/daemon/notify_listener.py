#!/usr/bin/env python3
"""Binds a unix datagram socket (the NOTIFY_SOCKET systemd would provide) and
appends every message, one per line with a monotonic timestamp, to a file.
Prints "ready" once bound. Exits on SIGTERM."""
import os
import signal
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
with open(out, "a", buffering=1) as f:
    while True:
        data = sock.recv(4096).decode("utf-8", "replace")
        for line in data.split("\n"):
            f.write(f"{time.monotonic():.3f} {line}\n")
