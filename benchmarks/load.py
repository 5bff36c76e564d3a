"""Load: N concurrent writer processes for a bounded time against SQLite and PostgreSQL.

    .venv/bin/python benchmarks/load.py                        # 4 writers, 20 s, both backends
    .venv/bin/python benchmarks/load.py --writers 8 --seconds 30 --backend postgresql
    .venv/bin/python benchmarks/load.py --writers 8 --backend sqlite --baseline --streak 4 8
    .venv/bin/python benchmarks/load.py --writers 8 --backend postgresql --bare --floor

Each writer is a separate process (multiprocessing, spawn) with its own engine, like a
technician at another bench: it records cell counts on its own lot through the real service
(role check, validation, write, audit event, commit) and every 10th write registers a new lot
(lot number + COI sequence under the write lock), until the time is up. Writes on one lot by
several writers are covered by the tests; here every writer also hits a shared lot every 5th
write. PostgreSQL is a throwaway server started from the machine's binaries (fsync off, as in
the tests: figures are for the application's serialisation, not the disk). Prints writes/s,
p50/p99 latency per write and the verification result (audit chain + every record against the
trail, lot numbers and COI codes unique and gap-free).

``--bare`` first runs the stack's own ceiling on the same machine: the same writer processes,
each inserting a count row with SQLAlchemy Core on CellTrail's engine and committing (no
log-in, no write lock, no checks, no audit event): what 8 Python writers on SQLAlchemy and the
driver can do at most here, beside which the audited writes are printed.

``--floor`` (PostgreSQL) then runs the same writers recording counts only, twice: through the
service, audited (``counts only``), and as CellTrail's own statements for a count sent by
psycopg alone, in the same round trips, with the same rule checks, canonical JSON, keyed hash
and checkpoint line (``floor``): what taking SQLAlchemy and the ORM out of the write path could
give at most. Both are verified like the audited run.
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CELLTRAIL_FAST_HASH", "1")  # logins are not what is measured

PASSWORD = "load-test-password-1"


def _settings(url: str, home: str) -> Any:
    from mfg.config import Settings

    return Settings(home=Path(home), facility_id="W0001", site_timezone="UTC", database_url=url)


def _db(url: str, home: str) -> Any:
    from mfg.services.uow import Database
    from mfg.store import db as store_db

    return Database(engine=store_db.make_engine(url), settings=_settings(url, home))


def prepare(url: str, home: str, writers: int, now: datetime) -> None:
    from mfg.services import lots, subjects, users
    from mfg.services.uow import Actor

    db = _db(url, home)
    users.init_database(db, admin="admin", full_name="Admin", password=PASSWORD, now=now)
    admin = Actor("admin", "Admin", "admin")  # type: ignore[arg-type]
    users.add_user(
        db, actor=admin, username="tech", full_name="Tech", role="technician",
        password=PASSWORD, now=now,
    )  # fmt: skip
    tech = users.login(db, "tech", PASSWORD, now=now)
    day0 = now.date() - timedelta(days=5)
    for w in range(writers + 1):
        subjects.add_subject(
            subjects.AddSubject(f"L-{w:03d}", "BJ01", "SLE", 60.0, "DL1"),
            db=db,
            actor=tech,
            now=now,
        )
        lots.register_lot(
            lots.RegisterLot(f"L-{w:03d}", "apheresis", apheresis_on=day0),
            db=db,
            actor=tech,
            now=now,
        )
    db.dispose()


def _busy_handler_only() -> None:
    """The baseline: no write queue, SQLite's busy handler alone (what 0.1 did)."""
    from contextlib import nullcontext

    from mfg.store import db as store_db

    def no_turn(engine: Any, kind: str = "write") -> Any:  # the log-ins' queue too: 0.1 had none
        return nullcontext()

    store_db.write_turn = no_turn


class _Streaks:
    """The experiment of ``--streak K``: the write queue lets a writer keep its turn (the lock
    file) for K writes in a row before the next writer's turn, as the busy handler lets a
    writer that just committed slip in again. Not CellTrail's write path: it tells how much of
    the queue's lower throughput is the hand-over to another process after every write, and
    what p99 a longer turn costs. Armed once every writer has logged in."""

    def __init__(self, k: int) -> None:
        from mfg.store import db as store_db

        self.k, self.n, self.fd, self.armed = k, 0, -1, False
        self.own_turn = store_db.write_turn
        store_db.write_turn = self.write_turn

    @contextmanager
    def write_turn(self, engine: Any, kind: str = "write") -> Iterator[None]:
        from mfg.store import db as store_db

        if kind != "write":  # the log-ins' queue: CellTrail's own
            with self.own_turn(engine, kind):
                yield
            return
        if self.fd < 0:
            _, self.fd = store_db._turn(engine.url.database)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            self.n += 1
            if not self.armed or self.n >= self.k:
                self.release()

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.fd, self.n = -1, 0


def _timed_writes(
    start: Any, seconds: float, write: Callable[[int], object], who: str
) -> tuple[list[float], int, float]:
    """The loop every writer runs once all are ready (``start``: the barrier): ``write(i)`` for
    i = 0, 1, ... until ``seconds`` are up. Each write's latency, the errors (counted and
    reported, never hidden) and the CPU the loop took."""
    lat: list[float] = []
    errors = 0
    start.wait()
    deadline = time.perf_counter() + seconds
    cpu0 = time.process_time()
    i = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            write(i)
            lat.append(time.perf_counter() - t0)
        except Exception as e:
            errors += 1
            print(f"{who}: {type(e).__name__}: {e}", file=sys.stderr)
        i += 1
    return lat, errors, time.process_time() - cpu0


def writer(
    url: str,
    home: str,
    w: int,
    seconds: float,
    start: Any,
    out: Any,
    queue: bool = True,
    streak: int = 1,
    counts_only: bool = False,
) -> None:
    from mfg.services import counts, lots, users

    if not queue:
        _busy_handler_only()
    streaks = _Streaks(streak) if queue and streak > 1 else None
    db = _db(url, home)
    # Logged in, as at the bench: every service call re-checks the account (issue 12).
    tech = users.login(db, "tech", PASSWORD, now=datetime.now(UTC))
    now = datetime.now(UTC)
    own = f"BH002-{now.year % 100:02d}-{w + 2:04d}"
    shared = f"BH002-{now.year % 100:02d}-0001"
    day0 = now.date() - timedelta(days=5)

    def write(i: int) -> None:
        if i % 10 == 9 and not counts_only:
            lots.register_lot(
                lots.RegisterLot(f"L-{w:03d}", "apheresis", apheresis_on=day0),
                db=db, actor=tech, now=now,
            )  # fmt: skip
        else:
            counts.record_count(
                counts.RecordCount(
                    shared if i % 5 == 4 else own, 200_000_000 + i, 100_000_000 + i, day=i % 5
                ),
                db=db, actor=tech, now=now,
            )  # fmt: skip

    if streaks is not None:
        streaks.armed = True  # this process writes nothing before the barrier
    lat, errors, cpu = _timed_writes(start, seconds, write, f"writer {w}")
    if streaks is not None:
        streaks.release()
    db.dispose()
    out.put((w, lat, errors, cpu))


def bare_writer(url: str, home: str, w: int, seconds: float, start: Any, out: Any) -> None:
    """The baseline of ``--bare``: one count row inserted and committed per write, SQLAlchemy
    Core on CellTrail's engine (its pool, pre-ping and parameter check), nothing else."""
    from sqlalchemy import insert, select

    from mfg.store.tables import CellCount, Lot

    db = _db(url, home)
    table = CellCount.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    own = f"BH002-{now.year % 100:02d}-{w + 2:04d}"
    with db.engine.connect() as c:
        pk = c.execute(select(Lot.id).where(Lot.lot_number == own)).scalar_one()  # type: ignore[arg-type]
    stmt = insert(table)

    def write(i: int) -> None:
        values = {
            "lot_pk": pk, "expansion_day": i % 5, "measured_on": now.date(),
            "total_cells": 200_000_000 + i, "viable_cells": 100_000_000 + i,
            "volume_ml": None, "method": None, "recorded_by": "tech", "recorded_at": now,
        }  # fmt: skip
        with db.engine.begin() as c:
            c.execute(stmt, values)

    lat, errors, cpu = _timed_writes(start, seconds, write, f"bare writer {w}")
    db.dispose()
    out.put((w, lat, errors, cpu))


def floor_writer(url: str, home: str, w: int, seconds: float, start: Any, out: Any) -> None:
    """The floor of ``--floor`` (PostgreSQL): CellTrail's own statements for a count, sent by
    psycopg alone, in the round trips and pipelines CellTrail sends them (the pool's pre-ping;
    BEGIN + the write lock + the lot + the count's id + the account and the trail's head; the
    count + the event + COMMIT), with CellTrail's rule checks, canonical JSON, keyed hash and
    checkpoint line: a write without SQLAlchemy's or the ORM's execution between the service
    and the driver. Its events are the real chain (the run is verified like the audited one).
    Counts only."""
    from sqlalchemy import func, insert, select

    from mfg import audit
    from mfg.domain.canonical import canonical_json
    from mfg.services import accounts, counts
    from mfg.store import db as store_db

    db = _db(url, home)
    dialect = db.engine.dialect

    def compiled(stmt: Any, keys: Any = None) -> tuple[str, dict[str, Any]]:
        c = stmt.compile(dialect=dialect, column_keys=keys)
        return c.string, dict(c.params)

    table = counts._count_table
    ping = str(dialect._dialect_specific_select_one)  # type: ignore[attr-defined]
    lock_sql, lock_params = store_db._LOCK.sql, store_db._LOCK.params
    live_sql, live_params = compiled(accounts._LIVE_AND_HEAD)
    lot_sql, lot_params = compiled(counts._LOT_FACTS)
    id_sql, id_params = compiled(
        select(func.nextval(func.pg_get_serial_sequence(table.name, "id")))
    )
    count_sql, _ = compiled(insert(table), ["id", *_COUNT_KEYS])
    ring = db.audit_keyring()
    with db.engine.connect() as c:
        trail = db.trail(c)  # the trail's name in the checkpoint lines
    raw = db.engine.raw_connection()
    conn: Any = raw.driver_connection
    conn.autocommit = False
    now = datetime.now(UTC)
    today = db.today(now)
    own = f"BH002-{now.year % 100:02d}-{w + 2:04d}"
    shared = f"BH002-{now.year % 100:02d}-0001"
    event_sql = ""

    def write(i: int) -> None:
        nonlocal event_sql
        cmd = counts.RecordCount(
            shared if i % 5 == 4 else own, 200_000_000 + i, 100_000_000 + i, day=i % 5
        )
        try:
            conn.autocommit = True  # the pool's pre-ping, as SQLAlchemy's psycopg dialect does it
            conn.execute(ping)
            conn.autocommit = False
            lock, lot_cur, id_cur, cur = (conn.cursor() for _ in range(4))
            with conn.pipeline():  # BEGIN, the lock, the lot, the id, the account and the head
                lock.execute(lock_sql, lock_params)
                lot_cur.execute(lot_sql, {**lot_params, "lot_number": cmd.lot_number})
                id_cur.execute(id_sql, id_params)
                cur.execute(live_sql, {**live_params, "username": "tech"})
            active, locked, role, seq, prev = cur.fetchone()
            if not active or locked or role != "technician":
                raise RuntimeError("account check")
            lot = counts._OpenLot(*lot_cur.fetchone())
            count_id = id_cur.fetchone()[0]
            for c in (lock, lot_cur, id_cur):
                c.close()
            counts._check_open(lot)
            on, day = counts._check_inputs(cmd, lot, today)
            values = {
                "id": count_id, "lot_pk": lot.id, "expansion_day": day, "measured_on": on,
                "total_cells": cmd.total_cells, "viable_cells": cmd.viable_cells,
                "volume_ml": cmd.volume_ml, "method": cmd.method,
                "recorded_by": "tech", "recorded_at": now,
            }  # fmt: skip
            event = audit.Chainer(ring, seq, prev).row(
                at=now, username="tech", action="count.recorded", entity="count",
                entity_id=str(count_id), lot_number=lot.lot_number, old_values=canonical_json(None),
                new_values=canonical_json({
                    "day": day, "measured_on": on, "total_cells": cmd.total_cells,
                    "viable_cells": cmd.viable_cells, "volume_ml": cmd.volume_ml,
                    "method": cmd.method,
                }),
                reason=None,
            )  # fmt: skip
            if not event_sql:
                event_sql = audit._INSERT.compile(dialect=dialect, column_keys=list(event)).string
            with conn.pipeline():  # the count, the event and COMMIT
                cur.execute(count_sql, values)
                cur.execute(event_sql, event)
                cur.execute("COMMIT")
            conn.commit()  # psycopg's: nothing left to send
            cur.close()
            db.checkpoint(trail, event["seq"], event["hash"], now, "write")
        except Exception:
            conn.rollback()
            raise

    lat, errors, cpu = _timed_writes(start, seconds, write, f"floor writer {w}")
    raw.close()
    db.dispose()
    out.put((w, lat, errors, cpu))


_COUNT_KEYS = (
    "lot_pk", "expansion_day", "measured_on", "total_cells", "viable_cells", "volume_ml",
    "method", "recorded_by", "recorded_at",
)  # fmt: skip


def verify(url: str, home: str) -> str:
    """``mfg audit verify``'s check (keyed chain, checkpoints, every record against the trail)
    plus lot numbers and COI codes unique and gap-free."""
    from sqlmodel import Session, select

    from mfg.domain.permissions import Role
    from mfg.services import audit_trail
    from mfg.services.uow import Actor
    from mfg.store.tables import Lot

    db = _db(url, home)
    report = audit_trail.verify(db=db, actor=Actor("admin", "Admin", Role.ADMIN))
    with Session(db.engine) as s:
        lot_rows = s.exec(select(Lot)).all()
    db.dispose()
    numbers = sorted(int(x.lot_number.rsplit("-", 1)[1]) for x in lot_rows)
    # one CoI per therapy event: each writer's subject keeps one, shared by its lots
    cois = {x.coi for x in lot_rows}
    subjects = {x.subject_pk for x in lot_rows}
    gap_free = numbers == list(range(1, len(numbers) + 1))
    ok = report.ok and gap_free and len(cois) == len(subjects)
    problem = report.problem or (report.record_problems[0] if report.record_problems else "")
    return (
        f"{'OK' if ok else 'FAILED'}: chain {'intact' if report.first_bad_seq is None else 'BROKEN'}"
        f" ({report.events} events), {report.records_checked} records match the trail"
        f"{'' if not problem else ' -- ' + problem}, {len(lot_rows)} lots "
        f"{'gap-free' if gap_free else 'WITH GAPS'}, {len(cois)} unique COIs"
    )


def _timed_verify(url: str, home: str) -> str:
    t0 = time.perf_counter()
    result = verify(url, home)
    return f"{result} (verified in {time.perf_counter() - t0:.2f} s)"


def _rows(url: str, home: str) -> int:
    """Counts + lots stored: every acknowledged write adds exactly one."""
    from sqlalchemy import func, select

    from mfg.store.tables import CellCount, Lot

    db = _db(url, home)
    with db.engine.connect() as c:
        n = c.execute(select(func.count()).select_from(CellCount)).scalar_one()
        n += c.execute(select(func.count()).select_from(Lot)).scalar_one()
    db.dispose()
    return int(n)


def _server_cpu_s(root: Path) -> float:
    """CPU seconds (user + system) so far of a PostgreSQL server's processes: the postmaster
    (the first line of ``postmaster.pid``) and its children, the writers' backends among them;
    read from /proc, 0 where there is none."""
    try:
        pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
        if int(entry) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def scratch_database(backend: str, prefix: str) -> tuple[str, str, Any]:
    """A temporary home and the URL of an empty database in it (SQLite), or on a throwaway
    PostgreSQL server (returned too: the caller stops it)."""
    home = tempfile.mkdtemp(prefix=prefix)
    if backend == "sqlite":
        return home, f"sqlite:///{home}/load.db", None
    from tests.support.pgserver import start_server

    server = start_server()
    return home, server.create_database("load"), server


def run(
    backend: str,
    writers: int,
    seconds: float,
    queue: bool = True,
    streak: int = 1,
    bare: bool = False,
    floor: bool = False,
    counts_only: bool = False,
) -> dict[str, Any]:
    home, url, server = scratch_database(backend, "celltrail-load-")
    try:
        now = datetime.now(UTC)
        prepare(url, home, writers, now)
        before = _rows(url, home)
        ctx = mp.get_context("spawn")
        start = ctx.Barrier(writers + 1)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=bare_writer, args=(url, home, w, seconds, start, out))
            if bare
            else ctx.Process(target=floor_writer, args=(url, home, w, seconds, start, out))
            if floor
            else ctx.Process(
                target=writer, args=(url, home, w, seconds, start, out, queue, streak, counts_only)
            )
            for w in range(writers)
        ]
        for p in procs:
            p.start()
        _started(start, procs)
        t0 = time.perf_counter()
        # the server's CPU over most of the run (its backends exit with the writers' engines)
        root = server.root if server is not None else None
        s0 = _server_cpu_s(root) if root else 0.0
        time.sleep(seconds * 0.9)
        s_cpu = (_server_cpu_s(root) - s0) / (time.perf_counter() - t0) if root else 0.0
        results = [out.get(timeout=seconds + 300) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join(60)
        lat = sorted(x for _, ls, _, _ in results for x in ls)
        errors = sum(e for _, _, e, _ in results)
        n = len(lat)
        w_cpu = sum(c for *_, c in results)
        lost = n - (_rows(url, home) - before)
        return {
            "backend": backend
            + (
                " (bare insert)"
                if bare
                else " (floor: psycopg alone)"
                if floor
                else _variant(backend, queue, streak) + (" (counts only)" if counts_only else "")
            ),
            "lost": lost,
            "writers": writers,
            "seconds": round(wall, 1),
            "writes": n,
            "errors": errors,
            "writes_per_s": n / wall,
            "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
            "p99_ms": 1000 * lat[min(n - 1, int(0.99 * n))] if lat else float("nan"),
            # CPU per write (ms): the writer processes', the server's (its share of the run)
            "writer_cpu_ms": 1000 * w_cpu / n if n else float("nan"),
            "server_cpu_ms": 1000 * s_cpu * wall / n if n else float("nan"),
            "verification": "-- (no audit events: the baseline)"
            if bare
            else _timed_verify(url, home),
        }
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)


def _started(start: Any, procs: list[Any], within_s: float = 300.0) -> None:
    """Wait until every writer is at the start line, then start with them; a writer that died
    before it (its traceback is above) ends the run with a message at once, not a wait for
    ever."""
    deadline = time.monotonic() + within_s
    while start.n_waiting < len(procs):
        died = sum(1 for p in procs if p.exitcode is not None)
        if died or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            raise SystemExit(
                f"load.py: {died} of {len(procs)} writers died before the start"
                if died
                else f"load.py: the writers were not at the start within {within_s:g} s"
            )
        time.sleep(0.05)
    start.wait()


def _variant(backend: str, queue: bool, streak: int) -> str:
    if backend != "sqlite":
        return ""
    if not queue:
        return " (busy handler only)"
    return f" (turns of {streak} writes)" if streak > 1 else ""


def _cpu(r: dict[str, Any]) -> str:
    """The writers' CPU per write, + the server's (PostgreSQL); the machine's cores bound the
    writes a second at cores / that (2 cores, 2.0 ms a write: at most 1,000 writes/s)."""
    w, srv = r["writer_cpu_ms"], r["server_cpu_ms"]
    return f"{w:.2f}" + (f" + {srv:.2f}" if srv else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="SQLite: first run without the write queue (busy handler only), then with it",
    )
    ap.add_argument(
        "--streak",
        type=int,
        nargs="*",
        default=[],
        metavar="K",
        help="SQLite, an experiment: then run the queue letting a writer keep its turn for K\n"
        "writes in a row (not CellTrail's write path), e.g. --streak 4 8",
    )
    ap.add_argument(
        "--bare",
        action="store_true",
        help="first run the baseline: the same writers, each a bare SQLAlchemy Core insert +\n"
        "commit of a count row (no log-in, lock, checks or audit event)",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="PostgreSQL: then the same writers recording counts only, audited, and CellTrail's\n"
        "statements for a count sent by psycopg alone (no SQLAlchemy or ORM between the rules\n"
        "and the driver): what removing the framework from the write path could give at most",
    )
    a = ap.parse_args()
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    from benchmarks.machine import header

    print(header())
    print(
        f"{'backend':<11} {'writers':>7} {'s':>5} {'writes':>7} {'errors':>6} {'lost':>4} "
        f"{'writes/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU/write ms':>14}  verification"
    )
    runs = [Variant(b) for b in backends]
    if a.baseline and "sqlite" in backends:
        runs.insert(0, Variant("sqlite", queue=False))
    if "sqlite" in backends:
        at = [v.backend for v in runs].index("sqlite") + (2 if a.baseline else 1)
        runs[at:at] = [Variant("sqlite", streak=k) for k in a.streak if k > 1]
    if a.bare:
        runs = [Variant(b, bare=True) for b in backends] + runs
    if a.floor and "postgresql" in backends:
        runs += [Variant("postgresql", counts_only=True), Variant("postgresql", floor=True)]
    for v in runs:
        r = run(v.backend, a.writers, a.seconds, v.queue, v.streak, v.bare, v.floor, v.counts_only)
        print(
            f"{r['backend']:<11} {r['writers']:>7} {r['seconds']:>5} {r['writes']:>7} "
            f"{r['errors']:>6} {r['lost']:>4} {r['writes_per_s']:>9.1f} {r['p50_ms']:>8.1f} "
            f"{r['p99_ms']:>8.1f} {_cpu(r):>14}  {r['verification']}",
            flush=True,
        )


class Variant(NamedTuple):
    """One run of ``main``: the backend and how its writers write."""

    backend: str
    queue: bool = True  # SQLite: the write queue (else the busy handler alone)
    streak: int = 1  # SQLite: writes a writer keeps its turn for (an experiment)
    bare: bool = False  # the bare inserts of ``--bare``
    floor: bool = False  # the floor of ``--floor``
    counts_only: bool = False  # audited writers recording counts only


if __name__ == "__main__":
    main()
