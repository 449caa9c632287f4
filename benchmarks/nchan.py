"""Nchan (nginx + libnginx-mod-nchan, Debian) as the reference server, run as an ordinary process.

One worker process, `daemon off;`, its own prefix in a temporary directory, on a free
127.0.0.1 port. Publishing: `POST /pub?id=<channel>` (the body is delivered as is);
subscribing: WebSocket on `/sub?id=<channel>`. The benchmark's publisher posts the same
diagnosis_update frame our service would push (seq and timestamp set by the publisher),
so both servers carry the same bytes.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diagops.bench.wsload import Target
from diagops.procs.executor import Executor
from diagops.procs.ports import free_port
from diagops.procs.readiness import HttpStatus

NGINX = os.environ.get("BENCH_NGINX", "/usr/sbin/nginx")
MODULE = os.environ.get("BENCH_NCHAN_MODULE", "/usr/lib/nginx/modules/ngx_nchan_module.so")

CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
load_module {module};
worker_rlimit_nofile {nofile};

events {{
    worker_connections 32768;
}}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    nchan_shared_memory_size 256m;

    server {{
        listen 127.0.0.1:{port} backlog=4096;

        location = /pub {{
            nchan_publisher http;
            nchan_channel_id $arg_id;
            nchan_message_buffer_length 20;
            nchan_message_timeout 120s;
        }}
        location = /sub {{
            nchan_subscriber websocket;
            nchan_channel_id $arg_id;
            nchan_subscriber_first_message newest;
        }}
        location = /ready {{
            return 200 "ok";
        }}
    }}
}}
"""


def nchan_missing() -> str | None:
    """Why Nchan cannot run here, or None when it can."""
    if not os.access(NGINX, os.X_OK):
        return f"{NGINX} not found (apt-get install nginx-light libnginx-mod-nchan)"
    if not os.path.exists(MODULE):
        return f"{MODULE} not found (apt-get install libnginx-mod-nchan)"
    return None


@contextmanager
def nchan_server(log_dir: Path, *, name: str = "nchan", ready_timeout: float = 15.0) -> Iterator[Target]:
    """nginx + nchan until the block ends; the Target's pid is the master (its worker is measured as a child)."""
    prefix = Path(tempfile.mkdtemp(prefix="nchan-", dir=log_dir))
    port = free_port()
    user = ""
    if os.geteuid() == 0:  # as root, nginx would switch its worker to `nobody`; keep the caller's user
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 65536 if hard == resource.RLIM_INFINITY or os.geteuid() == 0 else min(65536, hard)
    (prefix / "nginx.conf").write_text(CONF.format(user=user, prefix=prefix, module=MODULE, port=port, nofile=nofile))
    url = f"http://127.0.0.1:{port}"
    # Its output goes to nginx's own error log (which it appends to), so a failed start shows nginx's reason.
    argv = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    try:
        with Executor(argv, log=prefix / "error.log", ready=HttpStatus(url + "/ready"), name="nginx (nchan)",
                      ready_timeout_s=ready_timeout) as nginx:
            yield Target(name, "nchan", "127.0.0.1", port, (nginx.pid,))
    finally:
        if os.environ.get("BENCH_KEEP_LOGS") is None:
            shutil.rmtree(prefix, ignore_errors=True)
