"""nginx serving a static site: the "nginx" workload (Debian's nginx-light).

The site is the static workload's files; a tenth of the requests go to /api/
(answered by nginx itself) and one in twenty to /secret (a 404), in baselines
and canaries alike. A canary's release is its configuration, as with a real
nginx rollout: the access log switched on, a new listener, /api/ proxied to a
new upstream, or /secret aliased to /etc/shadow (the workers run as www-data,
so the kernel refuses the read: the attempt is what is recorded).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from bench.workloads import static_server
from bench.workloads.inject import DEBUG_LISTEN, EVAL_ROOT, OUTBOUND_PEER, SENSITIVE_PATH
from bench.workloads.load import wait_for_http

NGINX_ROOT = ROOT = EVAL_ROOT / "nginx"
NGINX_PORT = 18450
INJECTIONS = ("logging", "listen", "outbound", "sensitive-read")

_CONFIG = """worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/log/error.log;
events {{ worker_connections 256; }}
http {{
    {access_log}
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /api/ {{ {api} }}
        location = /secret {{ {secret} }}
    }}
    {extra_server}
}}
"""


def config_text(injection: str | None, root: Path = NGINX_ROOT, port: int = NGINX_PORT) -> str:
    """nginx.conf of the workload, or of the injected change; another prefix and port for a probe test."""
    access_log = f"access_log {root}/log/access.log;" if injection == "logging" else "access_log off;"
    api = (f"proxy_pass http://{OUTBOUND_PEER[0]}:{OUTBOUND_PEER[1]}; proxy_connect_timeout 1s; "
           "proxy_read_timeout 1s;" if injection == "outbound" else 'return 200 "{}";')
    secret = f"alias {SENSITIVE_PATH};" if injection == "sensitive-read" else "return 404;"
    extra = (f"server {{ listen {DEBUG_LISTEN[0]}:{DEBUG_LISTEN[1]}; return 204; }}"
             if injection == "listen" else "")
    return _CONFIG.format(root=root, port=port, access_log=access_log, api=api, secret=secret,
                          extra_server=extra)


def prepare(injection: str | None) -> None:
    shutil.rmtree(NGINX_ROOT, ignore_errors=True)
    for sub in ("log", "tmp"):
        (NGINX_ROOT / sub).mkdir(parents=True)
    static_server.write_site(NGINX_ROOT / "www")
    (NGINX_ROOT / "nginx.conf").write_text(config_text(injection))


def command() -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", str(NGINX_ROOT), "-e", str(NGINX_ROOT / "log" / "error.log"),
            "-c", str(NGINX_ROOT / "nginx.conf"), "-g", "daemon off;"]


def choose_path(rng: random.Random, site: list[str]) -> str:
    roll = rng.random()
    if roll < 0.1:
        return f"/api/price/{rng.randint(1, 500)}"
    if roll < 0.15:
        return "/secret"
    return rng.choice(site)


def site_paths() -> list[str]:
    return static_server.site_paths()


def wait_ready() -> None:
    wait_for_http("127.0.0.1", NGINX_PORT, "/index.html", timeout=90)
