"""A real, throwaway PostgreSQL server for tests: Debian's `postgresql` package (`.ci/run`
installs it), started on a free loopback port in a temporary data directory and removed after.

PostgreSQL refuses to run as root. Tests here (and CI) run as root, so the server then runs as
the `postgres` system user the package creates (`runuser`), with its data directory handed to
that user; as anyone else it runs as the current user. Password authentication is on
(scram-sha-256), so the storage URL carries a password as a real deployment's would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER = "otcmm"
PASSWORD = "pg-test-secret-4711"  # noqa: S105 - a throwaway test server's password
SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server binaries or the user to run them as are missing (a setup problem)."""


@dataclass(frozen=True)
class Postgres:
    port: int
    url: str  # postgresql://otcmm:<password>@127.0.0.1:<port>/postgres


def pg_bin() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl, else PATH's."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql "
        "(.ci/run installs it)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runner() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run the server's tools as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as "
            "(PostgreSQL refuses root): install Debian's postgresql package"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser (util-linux) is missing")
    return [runuser, "-u", SERVER_USER, "--"], entry.pw_uid, entry.pw_gid


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start a server, yield where it listens, then stop it and delete its files."""
    binaries = pg_bin()
    prefix, uid, gid = _runner()
    root = Path(tempfile.mkdtemp(prefix="otcmm-pg-"))
    data, pwfile, log = root / "data", root / "pwfile", root / "server.log"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
        os.chown(pwfile, uid, gid)
    port = _free_port()
    ctl = [*prefix, str(binaries / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", USER, "--pwfile",
             str(pwfile), "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        try:
            yield Postgres(port, f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres")
        finally:
            subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
