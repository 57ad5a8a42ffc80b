"""``planktos mirror URL --json`` as a subprocess for tests: its JSON status lines, read as they
come, and waits on conditions over them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Status = dict[str, Any]


class MirrorProcess:
    """``planktos mirror URL --dir DIR --json --listen 127.0.0.1:0 ARGS`` until :meth:`stop`."""

    def __init__(self, url: str, directory: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "planktos", "mirror", url, "--dir", str(directory)]
        cmd += ["--json", "--listen", "127.0.0.1:0", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.statuses: list[Status] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.statuses.append(json.loads(line))
                self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.errors.append(line)
                self._changed.notify_all()

    @property
    def last(self) -> Status:
        assert self.statuses, "no status yet:\n" + self.output()
        return self.statuses[-1]

    def output(self) -> str:
        return "".join(self.errors)

    def until(self, check: Callable[[Status], bool], timeout: float = 30) -> Status:
        """The first status line from now on for which ``check`` holds."""
        deadline = time.monotonic() + timeout
        seen = len(self.statuses)
        with self._changed:
            while True:
                for status in self.statuses[seen:]:
                    if check(status):
                        return status
                seen = len(self.statuses)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    last = self.statuses[-1] if self.statuses else None
                    raise AssertionError(
                        f"mirror: condition not met (exit {self.proc.poll()}); last status "
                        f"{json.dumps(last)}\n{self.output()}"
                    )
                self._changed.wait(min(left, 0.5))

    def until_seeding(self, infohashes: set[str] | None = None, timeout: float = 30) -> Status:
        """Until every shard (or those of ``infohashes``) is held whole and seeded."""

        def seeding(status: Status) -> bool:
            shards = {s["infohash"]: s for s in status["shards"]}
            wanted = infohashes if infohashes is not None else set(shards)
            return bool(wanted) and all(
                ih in shards and shards[ih]["state"] == "seeding" for ih in wanted
            )

        return self.until(seeding, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop it with ``sig``; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the mirror did not stop:\n" + self.output()) from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code
