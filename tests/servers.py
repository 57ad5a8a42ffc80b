"""Start ``planktos serve`` as a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (for servers started with --port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running server: its base URL, port and process."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    head: str = ""  # what it printed up to the line with its URL


@contextmanager
def planktos_serve(site: Path, *args: str) -> Iterator[Served]:
    """Run ``planktos serve site --port 0 ARGS`` until the block ends."""
    with planktos_process("serve", str(site), "--port", "0", *args) as served:
        yield served


@contextmanager
def planktos_process(*args: str) -> Iterator[Served]:
    """Run ``planktos ARGS`` until it prints the URL it serves; SIGINT it when the block ends."""
    cmd = [sys.executable, "-m", "planktos", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    lines: list[str] = []
    match = None
    while match is None:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("planktos serve exited:\n" + "".join(lines))
        lines.append(line)
        match = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", line)
        assert time.monotonic() < deadline, "".join(lines)
    try:
        yield Served(match[1], int(match[2]), proc, "".join(lines))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
