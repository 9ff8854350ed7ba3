"""Postgres under pgbench: the "database" workload.

The "application" is the schema plus a PL/Python function `app_audit(aid)` that
every pgbench transaction calls (a receipt hash, as an audit trigger would make).
A new release of that function is where a canary's behaviour change lives -- a
COPY TO PROGRAM, a pg_read_file, a dblink connection, a socket, a COPY TO file:
the ways real Postgres code reaches outside the database.

Needs Debian's postgresql-plpython3-15 (only to re-record; tests use the stored
fixtures).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.workloads.inject import DEBUG_LISTEN, EVAL_ROOT, EXFIL_DIR, INJECT_EVERY, OUTBOUND_PEER, SENSITIVE_PATH
from tests.support.postgres import ThrowawayPostgres

POSTGRES_ROOT = EVAL_ROOT / "postgres"
POSTGRES_PORT = 18420
SCALE = 2
ONCE_AFTER_S = 10

# Python statements run on every INJECT_EVERY-th call in one backend.
INJECTED_PYTHON = {
    "exec": "plpy.execute(\"COPY (SELECT 1) TO PROGRAM 'uname -a > /dev/null'\")",
    "sensitive-read": (
        "try:\n"
        f"        plpy.execute(\"SELECT pg_read_file('{SENSITIVE_PATH}')\")\n"
        "    except plpy.SPIError:\n"
        "        pass"
    ),
    "outbound": (
        "try:\n"
        f"        plpy.execute(\"SELECT dblink_connect_u('host={OUTBOUND_PEER[0]} port={OUTBOUND_PEER[1]} "
        "dbname=x connect_timeout=1')\")\n"
        "    except plpy.SPIError:\n"
        "        pass"
    ),
    "listen": (
        "import socket\n"
        "    with socket.socket() as sock:\n"
        "        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "        try:\n"
        f"            sock.bind(('{DEBUG_LISTEN[0]}', {DEBUG_LISTEN[1]}))\n"
        "            sock.listen(1)\n"
        "        except OSError:\n"
        "            pass"
    ),
    "write": f"plpy.execute(\"COPY (SELECT * FROM pgbench_branches) TO '{EXFIL_DIR}/postgres-branches.csv'\")",
    # Once in the cluster's run, ONCE_AFTER_S into it: the first backend to take the
    # advisory lock (held for its session) runs the program, once.
    "exec-once": (
        "import time\n"
        "    started = SD.setdefault('started', time.monotonic())\n"
        f"    if not SD.get('done') and time.monotonic() - started > {ONCE_AFTER_S}:\n"
        "        if plpy.execute('SELECT pg_try_advisory_lock(4242) AS got')[0]['got']:\n"
        "            SD['done'] = True\n"
        "            plpy.execute(\"COPY (SELECT 1) TO PROGRAM 'uname -a > /dev/null'\")"
    ),
}
# The release that switches statement logging on (a file the logger process holds open and writes all run).
LOGGING_SETTINGS = ("ALTER SYSTEM SET logging_collector = on", "ALTER SYSTEM SET log_statement = 'all'")
INJECTIONS = ("exec", "exec-once", "sensitive-read", "outbound", "listen", "write", "logging")

TRANSACTION = f"""\\set aid random(1, {100000 * SCALE})
\\set bid random(1, {SCALE})
\\set tid random(1, {10 * SCALE})
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
SELECT app_audit(:aid);
END;
"""


def audit_function_sql(injection: str | None) -> str:
    injected = ""
    if injection == "exec-once":
        injected = INJECTED_PYTHON[injection].replace("\n    ", "\n") + "\n"
    elif injection in INJECTED_PYTHON:
        injected = (f"SD['calls'] = SD.get('calls', 0) + 1\n"
                    f"if SD['calls'] % {INJECT_EVERY} == 0:\n    {INJECTED_PYTHON[injection]}\n")
    return ("CREATE OR REPLACE FUNCTION app_audit(aid integer) RETURNS text LANGUAGE plpython3u AS $fn$\n"
            "import hashlib\n" + injected +
            "return hashlib.sha256(str(aid).encode()).hexdigest()[:16]\n$fn$;")


class FixedPostgres(ThrowawayPostgres):
    """A throwaway cluster at a fixed directory and port, as a production
    cluster has: a random data path per run would be noise of our own making."""

    def __init__(self):
        super().__init__()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(POSTGRES_ROOT, ignore_errors=True)
        POSTGRES_ROOT.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(POSTGRES_ROOT, "postgres")
        self.dir, self.data, self.port = POSTGRES_ROOT, POSTGRES_ROOT / "data", POSTGRES_PORT

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def psql(self, database: str, sql: str) -> None:
        self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "gate",
                  "-v", "ON_ERROR_STOP=1", "-q", "-d", database, "-c", sql)


def prepare_database(injection: str | None) -> FixedPostgres:
    """A fresh cluster with the pgbench schema and this release of app_audit, stopped:
    `command()` starts it (in front of the probe, or before it attaches)."""
    server = FixedPostgres().start()
    try:
        server.create_database("shop")
        server._run(str(server.bin / "pgbench"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "gate",
                    "-i", "-q", "-s", str(SCALE), "shop")
        server.psql("shop", "CREATE EXTENSION plpython3u; CREATE EXTENSION dblink;")
        server.psql("shop", audit_function_sql(injection))
        if injection == "logging":
            for setting in LOGGING_SETTINGS:  # ALTER SYSTEM: one statement per psql call
                server.psql("shop", setting)
        server.stop()
    except Exception:
        server.remove()
        raise
    EXFIL_DIR.mkdir(parents=True, exist_ok=True)
    EXFIL_DIR.chmod(0o1777)
    return server


def command(server: FixedPostgres) -> list[str]:
    """The postmaster in the foreground, as the postgres user (setpriv execs: no helper process)."""
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", str(server.bin / "postgres"),
            "-D", str(server.data), "-c", "listen_addresses=127.0.0.1", "-c", f"port={server.port}",
            "-c", f"unix_socket_directories={server.dir}", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200"]


def wait_ready(server: FixedPostgres, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run([str(server.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
                               capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError(f"postgres on 127.0.0.1:{server.port} was not ready within {timeout:.0f}s")


def start_pgbench(server: FixedPostgres, rate: float, seconds: int, script: Path) -> subprocess.Popen:
    script.write_text(TRANSACTION)
    return subprocess.Popen(
        [str(server.bin / "pgbench"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "gate",
         "-c", "2", "-j", "1", "-R", str(rate), "-T", str(seconds), "-P", "1", "-n", "-f", str(script),
         "shop"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
