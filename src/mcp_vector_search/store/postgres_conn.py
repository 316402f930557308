"""PostgreSQL plumbing for the postgres store: connecting, the shared schema, error
mapping with masked URLs, and the writer lock as an advisory lock.

Only this module and postgres.py import psycopg. Messages never carry a password: every
URL goes through `mask_url`, and every server message through `_scrub` before it is
shown or logged.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerr
from psycopg.rows import TupleRow

from ..errors import IndexLockedError, StoreError
from ..lock import describe, holder_note
from . import postgres_lexical as lex
from . import project_identity

if TYPE_CHECKING:
    from ..config import Config

Connection = psycopg.Connection[TupleRow]

# Advisory locks take two int4 keys: this namespace ("mvs\0"), then one per project.
LOCK_NAMESPACE = 0x6D767300
_SCHEMA_LOCK = 0  # serialises schema creation between clients starting at once
CONNECT_TIMEOUT = 10
_DOWN_HINT = "check that the server is running and MVS_DATABASE_URL (or database_url) is right"

# The database's own schema (mvs_schema), also the schema_version in each project's
# meta so that an older client refuses the tables it can't read. 2: lexical postings
# (postgres_lexical.py) replace schema 1's tsvector column and its GIN index.
SCHEMA_VERSION = 2

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS mvs_schema (version int NOT NULL)",
    """CREATE TABLE IF NOT EXISTS mvs_projects (
        id bigserial PRIMARY KEY,
        project text NOT NULL,
        branch text NOT NULL,
        meta jsonb NOT NULL,
        generation bigint NOT NULL DEFAULT 0,
        UNIQUE (project, branch))""",
    """CREATE TABLE IF NOT EXISTS mvs_files (
        project_id bigint NOT NULL REFERENCES mvs_projects (id) ON DELETE CASCADE,
        path text NOT NULL,
        file_hash text NOT NULL,
        size bigint NOT NULL,
        mtime_ns bigint NOT NULL,
        status text NOT NULL,
        chunks int NOT NULL,
        PRIMARY KEY (project_id, path))""",
    """CREATE TABLE IF NOT EXISTS mvs_chunks (
        project_id bigint NOT NULL REFERENCES mvs_projects (id) ON DELETE CASCADE,
        id text NOT NULL,
        path text NOT NULL,
        start_line int NOT NULL,
        end_line int NOT NULL,
        symbol text,
        kind text NOT NULL,
        language text NOT NULL,
        content text NOT NULL,
        embed_text text NOT NULL,
        embed_hash text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (project_id, id))""",
    "CREATE INDEX IF NOT EXISTS mvs_chunks_path ON mvs_chunks (project_id, path)",
    "CREATE INDEX IF NOT EXISTS mvs_chunks_hash ON mvs_chunks (embed_hash, project_id)",
    """CREATE TABLE IF NOT EXISTS mvs_models (
        model_id text PRIMARY KEY,
        dimensions int NOT NULL,
        vectors_table text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS mvs_writers (
        lock_key int PRIMARY KEY,
        backend_pid int NOT NULL,
        info jsonb NOT NULL)""",
    # Our tokens are already split (lexical.py); the configuration only lower-cases and
    # stems, like the embedded engine's FTS, and drops no stop words.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'mvs_stem') THEN
            CREATE TEXT SEARCH DICTIONARY mvs_stem (TEMPLATE = snowball, Language = english);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'mvs_code') THEN
            CREATE TEXT SEARCH CONFIGURATION mvs_code (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION mvs_code ALTER MAPPING FOR asciiword, word,
                numword, asciihword, hword, numhword, hword_asciipart, hword_part,
                hword_numpart WITH mvs_stem;
        END IF;
    END $$""",
    *lex.SCHEMA,
]


# ---------------------------------------------------------------- secrets


def mask_url(url: str) -> str:
    """The URL with its password (in the userinfo or a password= parameter) as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return unquote(parts.password)
    found = re.search(r"(?i)password=([^&]*)", parts.query)
    return unquote(found.group(1)) if found and found.group(1) else None


def _scrub(text: str, url: str) -> str:
    """A server or driver message, on one line, with any trace of the password removed."""
    line = " ".join(str(text).split())
    secret = _password(url)
    if secret:
        line = line.replace(secret, "***")
    return line.replace(url, mask_url(url))


def where(url: str) -> str:
    return f"PostgreSQL at {mask_url(url)}"


def _message(exc: psycopg.Error) -> str:
    # The server's primary message, without the LINE/context lines it appends.
    primary = exc.diag.message_primary if exc.diag is not None else None
    return primary or str(exc)


def map_error(exc: psycopg.Error, url: str, doing: str) -> StoreError:
    """One clear line for what went wrong talking to the server."""
    if isinstance(exc, pgerr.UndefinedFile | pgerr.FeatureNotSupported) and "vector" in str(exc):
        return no_pgvector(url)
    if isinstance(exc, psycopg.OperationalError):
        return StoreError(
            f"lost or could not open the connection to {where(url)} while {doing}:"
            f" {_scrub(str(exc), url)}",
            hint=_DOWN_HINT + "; the index keeps its last committed state",
        )
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return StoreError(
            f"{where(url)} refused {doing}: {_scrub(_message(exc), url)}",
            hint="searchers may use a read-only role; indexing needs a role that can write",
        )
    return StoreError(f"{where(url)} failed while {doing}: {_scrub(_message(exc), url)}")


def no_pgvector(url: str) -> StoreError:
    return StoreError(
        f"{where(url)} has no pgvector extension",
        hint="install pgvector (the pgvector/pgvector docker image has it), or have a"
        " superuser run CREATE EXTENSION vector in this database",
    )


# ---------------------------------------------------------------- connecting


def database_url(config: Config) -> str:
    url = config.database_url.strip()
    if not url:
        raise StoreError(
            'store = "postgres" needs a database URL',
            hint="set MVS_DATABASE_URL=postgresql://user:password@host/db (or database_url)",
        )
    return url


def connect(url: str, doing: str = "connecting") -> Connection:
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="mcp-vector-search",
            # A client that vanishes (laptop lid, network) must not hold the writer lock
            # for hours: keepalives let the server notice and drop it.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
    except psycopg.Error as exc:
        raise map_error(exc, url, doing) from None
    return conn


def schema_exists(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('mvs_projects') IS NOT NULL").fetchone()
    return bool(row and row[0])


def db_version(conn: Connection) -> int | None:
    """The tables' schema; None before any client created them."""
    row = conn.execute("SELECT to_regclass('mvs_schema') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return None
    row = conn.execute("SELECT max(version) FROM mvs_schema").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def ensure_schema(conn: Connection, url: str) -> None:
    """Create the shared tables once (writers only); readers never run DDL."""
    try:
        has_vector = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        if not has_vector:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except (pgerr.UndefinedFile, pgerr.FeatureNotSupported):
                raise no_pgvector(url) from None
            except pgerr.InsufficientPrivilege:
                raise no_pgvector(url) from None
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s::int, %s::int)", (LOCK_NAMESPACE, _SCHEMA_LOCK)
            )
            version = db_version(conn)
            if version is not None and version < SCHEMA_VERSION:
                # Every project's rows live in these tables: one upgrade serves them all.
                lex.migrate_from_v1(conn)
            for statement in SCHEMA:
                conn.execute(statement)
            if version is None:
                conn.execute("INSERT INTO mvs_schema VALUES (%s)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                conn.execute("UPDATE mvs_schema SET version = %s", (SCHEMA_VERSION,))
                conn.execute(
                    "UPDATE mvs_projects SET meta = jsonb_set(meta, '{schema_version}', %s)",
                    (json.dumps(SCHEMA_VERSION),),
                )
    except psycopg.Error as exc:
        raise map_error(exc, url, "creating the tables") from None


def check_pgvector(conn: Connection, url: str) -> None:
    if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        raise no_pgvector(url)


def vectors_table(model_id: str) -> str:
    """One table per model: vector(d) needs one dimension per column for its index."""
    return "mvs_vectors_" + hashlib.blake2b(model_id.encode(), digest_size=6).hexdigest()


# ---------------------------------------------------------------- the writer lock


def lock_key(project: str, branch: str) -> int:
    digest = hashlib.blake2b(f"{project}\x00{branch}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF  # int4 and oid agree below 2**31


# Backend pids of the advisory locks this process holds, by (url, key): a writable store
# checks in each write that its lock is still held (a server restart drops it).
held_locks: dict[tuple[str, int], int] = {}


class AdvisoryLock:
    """One writer per project and branch, across machines: a session-level advisory lock
    on a connection of its own. When the holder dies (kill -9, a lost machine) the server
    ends its session and the lock goes with it; no pid guessing, no stale files."""

    def __init__(self, config: Config, root: Path) -> None:
        self._url = database_url(config)
        self.project, self.branch = project_identity(config, root)
        self.key = lock_key(self.project, self.branch)
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def holder(self) -> dict[str, object] | None:
        conn = connect(self._url, "reading the writer lock")
        try:
            if not schema_exists(conn):
                return None
            row = conn.execute(
                """SELECT w.info FROM mvs_writers w
                   JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted
                    AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
                    AND l.objsubid = 2 AND l.pid = w.backend_pid
                   WHERE w.lock_key = %s""",
                (LOCK_NAMESPACE, self.key, self.key),
            ).fetchone()
        except psycopg.Error as exc:
            raise map_error(exc, self._url, "reading the writer lock") from None
        finally:
            conn.close()
        return dict(row[0]) if row and isinstance(row[0], dict) else None

    def describe_holder(self) -> str:
        return describe(self.holder())

    def acquire(
        self,
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        timeout: float | None = None,
        command: str = "index",
    ) -> None:
        if self._conn is not None:
            return
        conn = connect(self._url, "taking the writer lock")
        try:
            ensure_schema(conn, self._url)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s::int, %s::int)", (LOCK_NAMESPACE, self.key)
                ).fetchone()
                if row and row[0]:
                    break
                if (
                    not wait
                    or (stop is not None and stop.is_set())
                    or (deadline is not None and time.monotonic() >= deadline)
                ):
                    holder = self.describe_holder()
                    raise IndexLockedError(
                        f"{self.project} ({self.branch or 'no branch'}) in {where(self._url)}"
                        f" is being written by {holder}"
                    )
                if stop is not None:
                    stop.wait(0.5)
                else:
                    time.sleep(0.5)
            pid_row = conn.execute("SELECT pg_backend_pid()").fetchone()
            backend_pid = int(pid_row[0]) if pid_row else 0
            conn.execute(
                """INSERT INTO mvs_writers (lock_key, backend_pid, info) VALUES (%s, %s, %s)
                   ON CONFLICT (lock_key) DO UPDATE
                   SET backend_pid = excluded.backend_pid, info = excluded.info""",
                (self.key, backend_pid, json.dumps(holder_note(command))),
            )
        except psycopg.Error as exc:
            conn.close()
            raise map_error(exc, self._url, "taking the writer lock") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        held_locks[(self._url, self.key)] = backend_pid

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        held_locks.pop((self._url, self.key), None)
        try:
            # Closing the session frees the lock; unlocking first is only tidier.
            conn.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", (LOCK_NAMESPACE, self.key))
        except psycopg.Error:
            pass
        finally:
            conn.close()


# ---------------------------------------------------------------- without a store


def read_meta(config: Config, root: Path) -> dict[str, object] | None:
    url = database_url(config)
    project, branch = project_identity(config, root)
    conn = connect(url, "reading the index meta")
    try:
        if not schema_exists(conn):
            return None
        row = conn.execute(
            "SELECT meta FROM mvs_projects WHERE project = %s AND branch = %s", (project, branch)
        ).fetchone()
    except psycopg.Error as exc:
        raise map_error(exc, url, "reading the index meta") from None
    finally:
        conn.close()
    return dict(row[0]) if row else None


def delete_project(config: Config, root: Path) -> str:
    url = database_url(config)
    project, branch = project_identity(config, root)
    conn = connect(url, "deleting the index")
    try:
        if schema_exists(conn):
            conn.execute(
                "DELETE FROM mvs_projects WHERE project = %s AND branch = %s", (project, branch)
            )
    except psycopg.Error as exc:
        raise map_error(exc, url, "deleting the index") from None
    finally:
        conn.close()
    return f"project {project!r} (branch {branch or '-'!r}) in {mask_url(url)}"
