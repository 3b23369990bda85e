"""The pipeline's state database (ledger, collection registry, verified states, embedding cache):
a SQLite file per store under the data folder by default, or one PostgreSQL database
(`RAG_DATABASE_URL`) that runs on other machines can share.

This is the one module that talks to SQLAlchemy. The stores write portable SQL with named
parameters (`:name`, and `IN :names` for a list); what differs between the engines stays here:
SQLite's WAL, busy timeout and foreign keys; PostgreSQL's schema per knowledge base (its
`search_path`), its connection pool, and reconnecting with backoff when the server went away.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

if TYPE_CHECKING:
    from rag_pipeline.settings import Settings

log = logging.getLogger(__name__)

_SQLITE_BUSY_TIMEOUT_SECONDS = 60.0
_IN_BATCH = 1000
"""Values per `IN :names` query (SQLite caps a statement's parameters)."""
RETRY_SECONDS = 60.0
"""How long a store keeps reconnecting to a database server that went away before it fails."""

P = ParamSpec("P")
R = TypeVar("R")


class StateDatabaseError(RuntimeError):
    """The state database could not be reached, after retries: says which one and why."""


def pipeline_state(settings: Settings) -> StateDatabase:
    """Where a knowledge base's ledger, collection registry and verified states live."""
    if settings.database_url:
        return StateDatabase(settings.database_url, settings.database_schema)
    return StateDatabase.sqlite(settings.ledger_path)


def embedding_cache_state(settings: Settings) -> StateDatabase:
    """Where the embedding cache lives: shared by the knowledge bases (vectors are keyed by
    model and text), so on a server it is in the URL's own schema, not a knowledge base's."""
    if settings.database_url:
        return StateDatabase(settings.database_url)
    return StateDatabase.sqlite(settings.embedding_cache_path)


def sqlite_url(path: Path) -> str:
    return sa.URL.create("sqlite", database=str(path)).render_as_string()


def describe_url(url: str) -> str:
    """The URL without its password, for messages and the UI."""
    return make_url(url).render_as_string(hide_password=True)


class StateDatabase:
    """One database (one SQLite file, or one PostgreSQL schema) and its connection pool.

    `schema` keeps knowledge bases apart on a shared PostgreSQL database; SQLite has a file per
    knowledge base and ignores it.
    """

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema or None
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        self._engine = _engine(url, None if self.is_sqlite else self.schema)

    @classmethod
    def sqlite(cls, path: Path) -> StateDatabase:
        return cls(sqlite_url(path))

    @classmethod
    def at(cls, where: StateDatabase | Path) -> StateDatabase:
        """A database as given, or the SQLite file at a path."""
        return where if isinstance(where, StateDatabase) else cls.sqlite(where)

    def describe(self) -> str:
        where = describe_url(self.url)
        return f"{where} (schema {self.schema})" if self.schema else where

    # -- schema ------------------------------------------------------------------------------

    def create(self, metadata: sa.MetaData,
               columns_added_later: Mapping[str, Sequence[str]] | None = None) -> None:
        """Create the tables, and add the columns a database written by an older release lacks.
        A store is opened on every sensor tick: when nothing is missing this only reads the
        catalogue (no lock), and a server database is checked once per process. Two processes
        creating at once wait for each other (PostgreSQL: an advisory lock; SQLite: its write
        lock)."""
        key = (self.url, self.schema, ",".join(sorted(metadata.tables)))
        if key in _created:
            return
        with self.transaction() as conn:
            complete = not _missing(conn.connection, metadata, columns_added_later or {})
        if not complete:
            self._create(metadata, columns_added_later or {})
        if not self.is_sqlite:  # a file may be removed and made again; a server's tables stay
            _created.add(key)

    def _create(self, metadata: sa.MetaData,
                columns_added_later: Mapping[str, Sequence[str]]) -> None:
        with self.transaction() as conn:
            raw = conn.connection
            if self.is_sqlite:  # the write lock before looking: two creators would both create
                raw.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                raw.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                            {"key": f"rag_pipeline:{self.schema}"})
                if self.schema:
                    raw.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            metadata.create_all(raw)
            inspector = sa.inspect(raw)
            for table_name, names in columns_added_later.items():
                present = {c["name"] for c in inspector.get_columns(table_name)}
                table = metadata.tables[table_name]
                for name in names:
                    if name not in present:
                        kind = table.c[name].type.compile(dialect=raw.dialect)
                        raw.execute(sa.text(f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}"))

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StateConnection]:
        """One transaction: committed when the block ends, rolled back on an error. Reaching
        the server is retried with backoff (see `retried` for a whole operation)."""
        connection = _connect_with_retries(self._engine, self.describe())
        try:
            with connection.begin():
                yield StateConnection(connection)
        finally:
            connection.close()


class StateConnection:
    """A connection inside a transaction, for SQL written with named parameters."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
                | None = None) -> sa.CursorResult:
        """Run `sql`; a list of parameter mappings runs it once per mapping (executemany)."""
        if isinstance(params, Sequence) and not params:
            return None  # type: ignore[return-value]  # nothing to do for an empty batch
        return self.connection.execute(sa.text(sql), params)

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[sa.Row]:
        """Rows fetched as they are read (a server-side cursor on PostgreSQL), not all at once."""
        result = self.connection.execution_options(stream_results=True, yield_per=2000) \
            .execute(sa.text(sql), params)
        yield from result

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.connection.execute(sa.text(sql), params).scalar()

    def select_in(self, sql: str, name: str, values: Iterable[Any],
                  params: Mapping[str, Any] | None = None) -> Iterator[sa.Row]:
        """Rows of `sql`, whose `IN :<name>` takes `values`, queried in batches."""
        statement = sa.text(sql).bindparams(sa.bindparam(name, expanding=True))
        items = list(values)
        for start in range(0, len(items), _IN_BATCH):
            yield from self.connection.execute(
                statement, {**(params or {}), name: items[start : start + _IN_BATCH]})


def retried(method: Callable[P, R]) -> Callable[P, R]:
    """Run a store operation (one transaction) again when its connection to the server was
    lost part-way: the transaction was rolled back, and every store operation may run twice."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return _with_retries(method.__qualname__, lambda: method(*args, **kwargs))

    return wrapper


def _missing(connection: Connection, metadata: sa.MetaData,
             columns_added_later: Mapping[str, Sequence[str]]) -> bool:
    """Whether a table of `metadata`, or a column added later, is not there yet."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    if not set(metadata.tables) <= present:
        return True
    return any(not set(names) <= {c["name"] for c in inspector.get_columns(table)}
               for table, names in columns_added_later.items())


# -- engines and retries -----------------------------------------------------------------------

_created: set[tuple[str, str | None, str]] = set()
"""Server databases whose tables this process has seen complete."""

_engines: dict[tuple[str, str | None], Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str, schema: str | None) -> Engine:
    """One engine (and pool) per database and schema in a process."""
    with _engines_lock:
        engine = _engines.get((url, schema))
        if engine is None:
            engine = _engines[(url, schema)] = _new_engine(url, schema)
        return engine


def _new_engine(url: str, schema: str | None) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        # A connection per transaction, as SQLite is meant to be used: nothing pooled can hold
        # a file that a test or an operator removed.
        engine = sa.create_engine(url, poolclass=NullPool,
                                  connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_SECONDS})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    connect_args = {"options": f"-c search_path={schema}"} if schema else {}
    # pre-ping: a pooled connection the server dropped (restart, failover, idle timeout) is
    # replaced at check-out instead of failing the next statement.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8,
                            connect_args=connect_args)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL (so readers and one writer from other processes proceed) and foreign keys. While
    another connection switches a new file to WAL at the same moment, SQLite answers "locked"
    at once, without waiting on the busy timeout: try again until the timeout."""
    import sqlite3
    import time

    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _after_fork() -> None:
    """A forked child must not use its parent's pooled connections: it opens its own."""
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork)


def _is_transient(exc: BaseException) -> bool:
    """A lost or refused connection to a database server (SQLite's "locked" is not: it has
    waited its busy timeout already)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    from_sqlite = exc.orig is not None and type(exc.orig).__module__.startswith("sqlite3")
    return not from_sqlite and isinstance(exc, (sa.exc.OperationalError,
                                                sa.exc.InterfaceError))


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: database unreachable (try %d), retrying in %.1f s: %s", what,
                    state.attempt_number, state.upcoming_sleep, _first_line(error))
    return before_sleep


def _with_retries(what: str, operation: Callable[[], R]) -> R:
    """`operation`, tried again with backoff while the server is unreachable, then a
    `StateDatabaseError` that says for how long and why."""
    retrying = Retrying(retry=retry_if_exception(_is_transient),
                        wait=wait_exponential_jitter(initial=0.5, max=10),
                        stop=stop_after_delay(RETRY_SECONDS), reraise=True,
                        before_sleep=_log_retry(what))
    try:
        return retrying(operation)
    except sa.exc.DBAPIError as exc:
        if _is_transient(exc):
            raise StateDatabaseError(
                f"{what}: the state database was unreachable for {RETRY_SECONDS:.0f} s "
                f"(RAG_DATABASE_URL): {_first_line(exc)}") from exc
        raise


def _connect_with_retries(engine: Engine, where: str) -> Connection:
    return _with_retries(f"state database {where}", engine.connect)


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error else ""
