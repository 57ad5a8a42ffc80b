"""The README's web server configurations, run for real: Debian's nginx and Caddy on loopback.

``readme_block`` takes a fenced block out of the README; :func:`nginx` and :func:`caddy` run
one, adapted only where a test must (the site's directory, the ports, no ACME, no admin
endpoint), in front of a built site, until the ``with`` block ends. The server's error log
is printed when a test fails (pytest shows captured output).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
SERVE_PORT = "127.0.0.1:8080"  # where the README's snippets expect planktos serve
START_S = 10.0


def readme_blocks(language: str) -> list[str]:
    """Every fenced block of ``language`` in the README, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def readme_block(language: str, containing: str = "") -> str:
    """The one fenced block of ``language`` holding ``containing``."""
    found = [b for b in readme_blocks(language) if containing in b]
    assert len(found) == 1, f"expected one {language} block with {containing!r} in the README"
    return found[0]


def without_location(config: str, location: str) -> str:
    """``config`` with the nginx ``location`` block that starts with ``location`` removed."""
    start = config.index(location)
    depth = 0
    for end in range(start, len(config)):
        if config[end] == "{":
            depth += 1
        elif config[end] == "}":
            depth -= 1
            if depth == 0:
                return config[:start] + config[end + 1 :]
    raise AssertionError(f"unbalanced block at {location!r}")


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on ``port`` (the server's log if it died)."""
    deadline = time.monotonic() + START_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    print(f"--- {log}:\n{log.read_text(errors='replace') if log.exists() else ''}")


@contextmanager
def nginx(server_body: str, root: Path, workdir: Path, serve_port: int) -> Iterator[str]:
    """Debian's nginx serving ``root`` with ``server_body`` (README locations) in its server
    block, ``127.0.0.1:8080`` replaced by ``serve_port``; yields its base URL."""
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx_bin), "nginx is missing: make system-deps installs it"
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "nginx-error.log"
    body = server_body.replace(SERVE_PORT, f"127.0.0.1:{serve_port}")
    load = f"load_module {BROTLI_MODULE};" if BROTLI_MODULE.exists() else ""
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""{load}
daemon off;
worker_processes 1;
user root;
pid {workdir / "nginx.pid"};
error_log {log} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir / "nginx-access.log"};
    {temp}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
{body}
    }}
}}
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [nginx_bin, "-p", str(workdir), "-e", str(log), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc, log)


@contextmanager
def caddy(caddyfile: str, root: Path, workdir: Path, serve_port: int) -> Iterator[str]:
    """Debian's Caddy running the README's Caddyfile for ``root``: ``example.com`` becomes
    ``http://127.0.0.1:PORT`` (no certificate to fetch), the admin endpoint is off, and
    ``127.0.0.1:8080`` is ``serve_port``; yields its base URL."""
    caddy_bin = shutil.which("caddy")
    assert caddy_bin, "caddy is missing: make system-deps installs it"
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "caddy.log"
    text = (
        caddyfile.replace("example.com", f"http://127.0.0.1:{port}")
        .replace("/srv/site", str(root))
        .replace(SERVE_PORT, f"127.0.0.1:{serve_port}")
    )
    conf = workdir / "Caddyfile"
    conf.write_text("{\n    admin off\n}\n" + text, encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [caddy_bin, "run", "--config", str(conf), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc, log)
