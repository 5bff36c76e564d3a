"""Operational qualification (GAMP 5, EU GMP Annex 11 section 4): ``mfg validate -o FILE.pdf``.

Runs the installed CellTrail end to end on a SCRATCH database of the configured kind (SQLite: a
temporary file; PostgreSQL: a database created on the configured server and dropped afterwards)
with scratch accounts and a one-time password: registration -> counts -> harvest -> results ->
verification -> release -> COA -> labels -> scan -> report -> audit verify, then refusals of bad
input and wrong roles, lockout, optimistic locking and tamper detection. Each check records what
was expected, what was observed, pass / fail / not available (a service this installation does
not have) and its duration. The production database is only read, before and after, to show
that the run did not change it.
"""

from __future__ import annotations

import dataclasses
import platform
import secrets
import shutil
import socket
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mfg.config import Settings
from mfg.errors import CellTrailError

PASS, FAIL, NOT_AVAILABLE = "pass", "fail", "not available"

# A lot that meets BH002 specification version 1 on every release test.
CONFORMING_RESULTS = {
    "APPEAR": "Conforms",
    "VIAB": "91.2 %",
    "CD3": "95.1",
    "CAR": "32.5 %",
    "VCN": "1.8",
    "POT": "250 pg/mL",
    "ENDO": "<0.5",
    "GRAM": "No organisms seen",
    "MYCO": "negative",
    "STER": "No growth",
    "RCL": "Not detected",
    "BEADS": "<10",
}
# day -> (total, viable): about 30-fold over 11 days
GROWTH = {0: (110_000_000, 100_000_000), 3: (260_000_000, 240_000_000),
          5: (640_000_000, 600_000_000), 7: (1_300_000_000, 1_200_000_000),
          9: (2_300_000_000, 2_100_000_000)}  # fmt: skip


class NotAvailable(Exception):
    """The service a check needs is not part of this installation."""


@dataclass
class Check:
    number: str
    step: str
    title: str
    expected: str
    observed: str = ""
    status: str = NOT_AVAILABLE
    seconds: float = 0.0


@dataclass
class Qualification:
    version: str
    environment: dict[str, str]
    database_kind: str
    run_by: str
    run_by_name: str
    run_by_role: str
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[Check] = field(default_factory=list)
    site_zone: str = "UTC"

    @property
    def counts(self) -> dict[str, int]:
        out = {PASS: 0, FAIL: 0, NOT_AVAILABLE: 0}
        for c in self.checks:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    @property
    def passed(self) -> bool:
        return self.counts[FAIL] == 0


def _need(module: str, *names: str) -> Any:
    """Import a service module of another feature; NotAvailable when this install lacks it."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise NotAvailable(f"{module} is not installed") from None
    for n in names:
        if not hasattr(mod, n):
            raise NotAvailable(f"{module}.{n} is not available")
    return mod


def environment(db_url: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "-"

    from sqlalchemy.engine import make_url

    return {
        "CellTrail": v("celltrail"),
        "Python": sys.version.split()[0],
        "Platform": platform.platform(),
        "Host": socket.gethostname(),
        "SQLAlchemy / sqlmodel": f"{v('SQLAlchemy')} / {v('sqlmodel')}",
        "alembic": v("alembic"),
        "psycopg": v("psycopg"),
        "reportlab": v("reportlab"),
        "pandas": v("pandas"),
        "Configured database": make_url(db_url).render_as_string(hide_password=True),
    }


# -- the scratch database ------------------------------------------------------------------


@contextmanager
def scratch_database(settings: Settings, production_url: str) -> Iterator[tuple[str, Path]]:
    """A new, empty database of the configured kind, removed afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    home = Path(tempfile.mkdtemp(prefix="celltrail-oq-"))
    try:
        if production_url.startswith("sqlite"):
            yield f"sqlite:///{home / 'oq.db'}", home
            return
        url = make_url(production_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        name = f"celltrail_oq_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:
            admin.dispose()
            from mfg.errors import RuleViolation

            raise RuleViolation(
                "db",
                "oq-needs-createdb",
                f"cannot create the scratch database on the configured server ({e.__class__.__name__}): "
                "the database user needs the CREATEDB privilege",
            ) from None
        try:
            yield url.set(database=name).render_as_string(hide_password=False), home
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def production_fingerprint(url: str) -> str:
    """Audit events and head hash of the production database (read only), or why not."""
    from sqlalchemy import text

    from mfg.store import db as store_db

    engine = store_db.make_engine(url)
    try:
        with engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM auditevent")).scalar_one()
            head = c.execute(
                text("SELECT hash FROM auditevent ORDER BY seq DESC LIMIT 1")
            ).scalar_one_or_none()
        return f"{n} audit events, head {str(head)[:16]}"
    except Exception as e:
        return f"unreadable ({e.__class__.__name__})"
    finally:
        engine.dispose()


# -- the run -------------------------------------------------------------------------------


class _Runner:
    def __init__(self, q: Qualification) -> None:
        self.q = q
        self.ctx: dict[str, Any] = {}
        self._n: dict[str, int] = {}

    def check(
        self, step: str, title: str, expected: str, fn: Callable[[], tuple[bool, str]]
    ) -> Check:
        major = list(dict.fromkeys([c.step for c in self.q.checks] + [step])).index(step) + 1
        self._n[step] = self._n.get(step, 0) + 1
        c = Check(f"{major}.{self._n[step]}", step, title, expected)
        t0 = time.perf_counter()
        try:
            ok, observed = fn()
            c.status, c.observed = (PASS if ok else FAIL), observed
        except NotAvailable as e:
            c.status, c.observed = NOT_AVAILABLE, str(e)
        except Exception as e:  # a check that crashes is a failed check, with its reason
            where = traceback.extract_tb(e.__traceback__)[-1]
            c.status = FAIL
            c.observed = (
                f"unexpected {type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"
            )
        c.seconds = time.perf_counter() - t0
        self.q.checks.append(c)
        return c


def _refused(
    fn: Callable[[], Any], rule: str | None = None, kind: type | None = None
) -> tuple[bool, str]:
    """Expect a refusal (optionally with this rule / error class)."""
    try:
        fn()
    except CellTrailError as e:
        ok = (rule is None or e.rule == rule) and (kind is None or isinstance(e, kind))
        return ok, f"refused: {e} [{e.rule}]"
    return False, "accepted (no refusal)"


def run(
    *,
    settings: Settings,
    production_url: str,
    run_by: Any,
    now: datetime | None = None,
) -> Qualification:
    """Run the qualification on a scratch database; never writes to ``production_url``."""
    started = now or datetime.now(UTC)
    q = Qualification(
        version=environment(production_url)["CellTrail"],
        environment=environment(production_url),
        database_kind="PostgreSQL" if production_url.startswith("postgresql") else "SQLite",
        run_by=run_by.username,
        run_by_name=run_by.full_name,
        run_by_role=str(run_by.role),
        started_at=started,
        site_zone=settings.site_timezone,
    )
    r = _Runner(q)
    before = production_fingerprint(production_url)
    with scratch_database(settings, production_url) as (url, home):
        scratch_settings = dataclasses.replace(settings, home=home, database_url=url)
        q.environment["Scratch database"] = (
            "temporary SQLite file"
            if url.startswith("sqlite")
            else "scratch database " + url.rsplit("/", 1)[1]
        )
        _qualify(r, scratch_settings, url, started)
    after = production_fingerprint(production_url)
    r.check(
        "Isolation",
        "The production database was not changed by the run",
        f"production audit trail before = after ({before})",
        lambda: (before == after, f"before: {before}; after: {after}; scratch removed"),
    )
    q.finished_at = datetime.now(UTC)
    return q


def _qualify(r: _Runner, settings: Settings, url: str, now: datetime) -> None:
    from sqlmodel import func, select

    from mfg.domain import ids
    from mfg.domain.permissions import Role
    from mfg.errors import AuthenticationFailed, Conflict, NotPermitted
    from mfg.services import audit_trail, counts, harvest, lots, subjects, users
    from mfg.services.uow import Actor, Database
    from mfg.store import db as store_db
    from mfg.store.tables import AuditEvent, CellCount

    db = Database(engine=store_db.make_engine(url), settings=settings)
    password = secrets.token_urlsafe(18)
    today = db.today(now)
    day0 = today - timedelta(days=11)
    a: dict[str, Actor] = {}
    c = r.ctx

    def n_rows(table: type) -> int:
        with db.read() as s:
            return int(s.exec(select(func.count()).select_from(table)).one())

    try:
        # -- installation -------------------------------------------------------------
        def install() -> tuple[bool, str]:
            rev, created = users.init_database(
                db, admin="oq-admin", full_name="OQ Admin", password=password, now=now
            )
            head = store_db.head_revision(url)
            return rev == head and created, f"schema {rev} (head {head}); admin created: {created}"

        r.check(
            "Installation",
            "Create the scratch database at the newest schema",
            "schema = head revision; first admin created",
            install,
        )
        a["admin"] = Actor("oq-admin", "OQ Admin", Role.ADMIN)

        def accounts() -> tuple[bool, str]:
            for name, role in (
                ("oq-tech", "technician"),
                ("oq-tech2", "technician"),
                ("oq-qa", "qa"),
                ("oq-sponsor", "sponsor"),
            ):
                users.add_user(
                    db,
                    actor=a["admin"],
                    username=name,
                    full_name=name.upper(),
                    role=role,
                    password=password,
                    now=now,
                )
                a[name] = users.login(db, name, password, now=now)
            return len(a) == 5, "logged in: " + ", ".join(f"{k} ({v.role})" for k, v in a.items())

        r.check(
            "Installation",
            "Accounts of every role; login",
            "technician x2, qa, sponsor added and logged in",
            accounts,
        )
        # stand-ins with the same identity when the accounts step failed (later checks then fail)
        tech = a.get("oq-tech") or Actor("oq-tech", "OQ-TECH", Role.TECHNICIAN)
        tech2 = a.get("oq-tech2") or Actor("oq-tech2", "OQ-TECH2", Role.TECHNICIAN)
        qa = a.get("oq-qa") or Actor("oq-qa", "OQ-QA", Role.QA)

        # -- registration -------------------------------------------------------------
        def register() -> tuple[bool, str]:
            subjects.add_subject(
                subjects.AddSubject("OQ-001", "OQ", "SLE", 62.5, "DL2", initials="OQ"),
                db=db,
                actor=tech,
                now=now,
            )
            v = lots.register_lot(
                lots.RegisterLot("OQ-001", "apheresis", apheresis_on=day0),
                db=db,
                actor=tech,
                now=now,
            )
            c["lot"] = v.lot_number
            coi = ids.parse_coi(v.coi)
            ok = (
                v.lot_number.startswith("BH002-")
                and coi.facility_id == settings.facility_id
                and v.day0 == day0
            )
            return (
                ok,
                f"lot {v.lot_number}, COI {v.coi_eye_readable} (check character valid), day 0 {v.day0}",
            )

        r.check(
            "Registration",
            "Subject and lot registration",
            "lot number BH002-YY-NNNN, valid COI with the site's facility id, day 0 = apheresis",
            register,
        )

        # -- counts --------------------------------------------------------------------
        def count() -> tuple[bool, str]:
            for day, (total, viable) in GROWTH.items():
                counts.record_count(
                    counts.RecordCount(c["lot"], total, viable, day=day), db=db, actor=tech, now=now
                )
            g = counts.growth(c["lot"], db=db, actor=tech, now=now)
            fold = g.series[-1].fold_expansion if g.series else None
            ok = (
                len(g.counts) == len(GROWTH)
                and fold is not None
                and abs(fold - 21.0) < 1e-9
                and g.state == "in_expansion"
            )
            return ok, f"{len(g.counts)} counts; fold expansion day 9 = {fold}; state {g.state}"

        r.check(
            "Counts",
            "Cell counts and growth",
            "5 counts; fold expansion 21.0 on day 9; lot in_expansion",
            count,
        )

        # -- harvest -------------------------------------------------------------------
        def harvest_() -> tuple[bool, str]:
            h = harvest.record_harvest(
                harvest.RecordHarvest(c["lot"], today, 3_000_000_000, 30.0),
                db=db,
                actor=tech,
                now=now,
            )
            c["bags"] = h.bag_count
            ok = h.car_viable_cells == 900_000_000 and h.in_window and h.harvest_day == 11
            return (
                ok,
                f"day {h.harvest_day}, CAR+ viable {h.car_viable_cells:,}, target {h.target_dose_cells:,}, dose met {h.dose_met}, {h.bag_count} bag(s)",
            )

        r.check(
            "Harvest",
            "Harvest inside the window",
            "day 11, CAR+ viable cells = 3.0e9 x 30 % = 900,000,000",
            harvest_,
        )

        # -- release testing ---------------------------------------------------------------
        def results_() -> tuple[bool, str]:
            release = _need("mfg.services.release", "add_result", "AddResult")
            evals = {}
            for code, value in CONFORMING_RESULTS.items():
                v = release.add_result(
                    release.AddResult(c["lot"], code, value), db=db, actor=tech, now=now
                )
                evals[code] = getattr(v, "evaluation", "?")
            ok = all(e == "pass" for e in evals.values())
            return ok, f"{len(evals)} results: " + ", ".join(f"{k} {v}" for k, v in evals.items())

        r.check(
            "Results",
            "Release results against the specification",
            "every one of the 12 tests evaluates pass",
            results_,
        )

        def four_eyes() -> tuple[bool, str]:
            release = _need("mfg.services.release", "verify_result")
            return _refused(
                lambda: release.verify_result(c["lot"], "VIAB", db=db, actor=tech, now=now),
                kind=NotPermitted,
            )

        r.check("Verification", "Four eyes: nobody verifies their own result", "refused", four_eyes)

        def verify_() -> tuple[bool, str]:
            release = _need("mfg.services.release", "verify_result")
            for code in CONFORMING_RESULTS:
                release.verify_result(c["lot"], code, db=db, actor=tech2, now=now)
            views = release.list_results(c["lot"], db=db, actor=qa)
            done = [v for v in views if getattr(v, "verified_by", None)]
            return len(done) == len(
                CONFORMING_RESULTS
            ), f"{len(done)} of {len(views)} results verified by oq-tech2"

        r.check(
            "Verification",
            "Second-person verification",
            "all 12 results verified by a second technician",
            verify_,
        )

        # -- release ---------------------------------------------------------------------
        def wrong_password() -> tuple[bool, str]:
            release = _need("mfg.services.release", "dispose", "Dispose")
            return _refused(
                lambda: release.dispose(
                    release.Dispose(c["lot"], "release", "OQ"),
                    password + "x",
                    db=db,
                    actor=qa,
                    now=now,
                ),
                kind=AuthenticationFailed,
            )

        r.check(
            "Release",
            "E-signature re-asks the password",
            "a wrong password is refused, nothing signed",
            wrong_password,
        )

        def tech_cannot_release() -> tuple[bool, str]:
            release = _need("mfg.services.release", "dispose", "Dispose")
            return _refused(
                lambda: release.dispose(
                    release.Dispose(c["lot"], "release", "OQ"), password, db=db, actor=tech, now=now
                ),
                kind=NotPermitted,
            )

        r.check("Release", "Only QA disposes a lot", "a technician is refused", tech_cannot_release)

        def release_() -> tuple[bool, str]:
            release = _need("mfg.services.release", "dispose", "Dispose")
            sig = release.dispose(
                release.Dispose(c["lot"], "release", "OQ: all results meet specification"),
                password,
                db=db,
                actor=qa,
                now=now,
            )
            state = lots.show_lot(c["lot"], db=db, actor=qa).state
            ok = state == "released" and getattr(sig, "printed_name", "") == qa.full_name
            return (
                ok,
                f"state {state}; signed by {getattr(sig, 'printed_name', '?')}, meaning {getattr(sig, 'meaning', '?')}",
            )

        r.check(
            "Release",
            "QA release with an e-signature",
            "lot released; signature shows the printed name and meaning",
            release_,
        )

        # -- COA -----------------------------------------------------------------------------
        def coa() -> tuple[bool, str]:
            release = _need("mfg.services.release", "issue_coa", "verify_pdf")
            issued = release.issue_coa(c["lot"], destination="validation", db=db, actor=qa, now=now)
            check = release.verify_pdf(issued.pdf, db=db, actor=qa)
            ok = (
                issued.pdf.startswith(b"%PDF")
                and check.issued_by_celltrail
                and check.unaltered
                and check.current
            )
            return (
                ok,
                f"PDF {len(issued.pdf):,} bytes; issued by CellTrail {check.issued_by_celltrail}, unaltered {check.unaltered}, current {check.current}",
            )

        r.check(
            "COA",
            "Certificate of Analysis issued and verified",
            "a PDF that `coa verify` finds issued, unaltered and current",
            coa,
        )

        # -- labels and scan -------------------------------------------------------------------
        def labels() -> tuple[bool, str]:
            lab = _need("mfg.services.labels", "print_labels", "PrintLabels")
            res = lab.print_labels(
                lab.PrintLabels(c["lot"], "dose-bag"), db=db, actor=tech, now=now
            )
            c["payload"] = res.payloads[0] if res.payloads else ""
            ok = res.data.startswith(b"%PDF") and len(res.payloads) == c.get("bags", 0)
            return ok, f"{len(res.payloads)} dose-bag label(s), PDF {len(res.data):,} bytes"

        r.check(
            "Labels",
            "Dose-bag labels printed and recorded",
            "one label per dose bag, PDF output",
            labels,
        )

        def reprint() -> tuple[bool, str]:
            lab = _need("mfg.services.labels", "print_labels", "PrintLabels")
            if not c.get("payload"):
                raise NotAvailable("no label was printed")
            return _refused(
                lambda: lab.print_labels(
                    lab.PrintLabels(c["lot"], "dose-bag"), db=db, actor=tech, now=now
                )
            )

        r.check("Labels", "A reprint without a reason is refused", "refused", reprint)

        def scan() -> tuple[bool, str]:
            lab = _need("mfg.services.labels", "scan")
            if not c.get("payload"):
                raise NotAvailable("no label was printed")
            v = lab.scan(c["payload"], db=db, actor=tech)
            return (
                v.lot_number == c["lot"] and v.subject_id == "OQ-001",
                f"scan -> {v.kind} {v.object_ref}, lot {v.lot_number}, subject {v.subject_id}",
            )

        r.check(
            "Scan",
            "Scanning the label identifies the lot",
            "the payload resolves to the lot and subject",
            scan,
        )

        def scan_altered() -> tuple[bool, str]:
            lab = _need("mfg.services.labels", "scan")
            if not c.get("payload"):
                raise NotAvailable("no label was printed")
            p = c["payload"]
            altered = p[:-2] + ("0" if p[-2] != "0" else "1") + p[-1]
            return _refused(lambda: lab.scan(altered, db=db, actor=tech))

        r.check("Scan", "An altered label payload is refused", "refused", scan_altered)

        # -- chain of custody ---------------------------------------------------------------
        def custody_() -> tuple[bool, str]:
            cus = _need("mfg.services.custody", "store_bag", "issue_bag", "thaw_bag", "infuse_bag")
            from mfg.domain.custody import parse_location

            if not c.get("payload"):
                raise NotAvailable("no label was printed")
            p = c["payload"]
            steps = [
                cus.store_bag(
                    p, parse_location("LN2-1", "R1", "B01", "A1"), db=db, actor=tech, now=now
                ).state,
                cus.issue_bag(p, db=db, actor=qa, now=now, subject_id="OQ-001").state,
                cus.thaw_bag(p, db=db, actor=tech, now=now + timedelta(minutes=5)).state,
            ]
            wrong, obs = _refused(
                lambda: cus.infuse_bag(
                    p, "OQ-999", db=db, actor=tech, now=now + timedelta(minutes=10)
                )
            )
            steps.append(
                cus.infuse_bag(
                    p, "OQ-001", db=db, actor=tech, now=now + timedelta(minutes=12)
                ).state
            )
            ok = wrong and steps == ["stored", "issued", "thawed", "infused"]
            return ok, " -> ".join(steps) + f"; wrong patient: {obs}"

        r.check(
            "Custody",
            "Dose bag stored, issued, thawed, infused; wrong patient refused",
            "stored -> issued -> thawed -> infused; infusion into another subject refused",
            custody_,
        )

        # -- import of historical lots ------------------------------------------------------------
        def import_() -> tuple[bool, str]:
            imp = _need("mfg.services.importer", "import_lots", "BASE_COLUMNS")
            cols = list(imp.BASE_COLUMNS) + list(CONFORMING_RESULTS)
            hist_day0 = today - timedelta(days=400)
            row = {
                "lot_id": "OQ-HIST-1", "subject_id": "OQ-H01", "site": "OQ", "indication": "SLE",
                "weight_kg": "70", "dose_level": "DL2", "source": "apheresis",
                "apheresis_date": hist_day0.isoformat(), "thaw_date": "",
                "harvest_date": (hist_day0 + timedelta(days=12)).isoformat(),
                "car_viable_cells": "2.0e8", "state": "released", "termination_cause": "",
                **CONFORMING_RESULTS,
            }  # fmt: skip
            path = settings.home / "oq-import.csv"
            lines = [",".join(cols), ",".join(str(row.get(k, "")) for k in cols)]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            res = imp.import_lots(path, db=db, actor=qa, now=now)
            c["imported"] = res.lots
            again, obs = _refused(lambda: imp.import_lots(path, db=db, actor=qa, now=now))
            return (
                res.lots == 1 and again,
                f"{res.lots} lot imported ({', '.join(res.lot_numbers)}); same file again: {obs}",
            )

        r.check(
            "Import",
            "Historical lots imported from CSV, once",
            "1 lot imported in one audited transaction; the same file again refused",
            import_,
        )

        # -- out of specification -----------------------------------------------------------
        def oos() -> tuple[bool, str]:
            release = _need("mfg.services.release", "add_result", "list_deviations")
            subjects.add_subject(
                subjects.AddSubject("OQ-003", "OQ", "SLE", 62.5, "DL2"), db=db, actor=tech, now=now
            )
            lot3 = lots.register_lot(
                lots.RegisterLot("OQ-003", "apheresis", apheresis_on=day0),
                db=db,
                actor=tech,
                now=now,
            ).lot_number
            for day, (total, viable) in GROWTH.items():
                counts.record_count(
                    counts.RecordCount(lot3, total, viable, day=day), db=db, actor=tech, now=now
                )
            harvest.record_harvest(
                harvest.RecordHarvest(lot3, today, 3_000_000_000, 30.0), db=db, actor=tech, now=now
            )
            v = release.add_result(
                release.AddResult(lot3, "VIAB", "61 %"), db=db, actor=tech, now=now
            )
            devs = release.list_deviations(db=db, actor=qa, lot_number=lot3)
            ok = getattr(v, "evaluation", "") == "fail" and any(d.kind == "OOS" for d in devs)
            return (
                ok,
                f"VIAB 61 % evaluates {getattr(v, 'evaluation', '?')}; deviations: "
                + ", ".join(f"{d.number} {d.kind} {d.test_code}" for d in devs),
            )

        r.check(
            "OOS",
            "An out-of-specification result opens a deviation",
            "viability 61 % (spec >= 70 %) evaluates fail and an OOS deviation is opened",
            oos,
        )

        def export() -> tuple[bool, str]:
            rep = _need("mfg.services.reporting", "export_lots")
            path = settings.home / "oq-export.csv"
            n = rep.export_lots("csv", str(path), db=db, actor=qa)
            header = path.read_text(encoding="utf-8").splitlines()[0].lower().split(",")
            leaked = [h for h in header if h in ("initials", "dob", "date_of_birth")]
            return (
                n >= 1 and not leaked,
                f"{n} lots exported; identifying columns: {leaked or 'none'}",
            )

        r.check(
            "Export",
            "Sponsor export is de-identified",
            "no initials or date of birth in the exported lot table",
            export,
        )

        # -- report -------------------------------------------------------------------------
        def report() -> tuple[bool, str]:
            rep = _need("mfg.services.reporting", "success_rate")
            res = rep.success_rate(db=db, actor=qa)
            lots_df = res.lots
            n = len(lots_df)
            import json

            overall = res.data.get("overall", res.data) if isinstance(res.data, dict) else res.data
            text = json.dumps(overall, default=str)[:300]
            want = 1 + int(c.get("imported", 0))
            return f'"successes": {want}' in text, f"{n} lot(s); {text}"

        r.check(
            "Report",
            "Success-rate report",
            "the released OQ lot and the imported one counted as successes",
            report,
        )

        # -- audit -----------------------------------------------------------------------------
        def audit_ok() -> tuple[bool, str]:
            v = audit_trail.verify(db=db, actor=qa)
            c["events"] = v.events
            return (
                v.ok,
                f"chain intact: {v.ok}, {v.events} events; {v.records_checked} records match the trail",
            )

        r.check(
            "Audit trail",
            "Audit verify after the whole flow",
            "chain intact; every record matches its trail",
            audit_ok,
        )

        # -- refusals: bad input ----------------------------------------------------------------
        def counted(fn: Callable[[], tuple[bool, str]]) -> Callable[[], tuple[bool, str]]:
            def go() -> tuple[bool, str]:
                before = (n_rows(AuditEvent), n_rows(CellCount))
                ok, obs = fn()
                same = (n_rows(AuditEvent), n_rows(CellCount)) == before
                return ok and same, obs + (
                    "; nothing written" if same else "; SOMETHING WAS WRITTEN"
                )

            return go

        def second_lot() -> str:
            if "lot2" not in c:
                subjects.add_subject(
                    subjects.AddSubject("OQ-002", "OQ", "LN", 70.0, "DL1"),
                    db=db,
                    actor=tech,
                    now=now,
                )
                c["lot2"] = lots.register_lot(
                    lots.RegisterLot("OQ-002", "apheresis", apheresis_on=today - timedelta(days=3)),
                    db=db,
                    actor=tech,
                    now=now,
                ).lot_number
            return c["lot2"]

        second_lot()
        r.check(
            "Bad input",
            "Viable cells above total cells",
            "refused [viable-exceeds-total]; nothing written",
            counted(
                lambda: _refused(
                    lambda: counts.record_count(
                        counts.RecordCount(c["lot2"], 1_000, 2_000, day=1),
                        db=db,
                        actor=tech,
                        now=now,
                    ),
                    "viable-exceeds-total",
                )
            ),
        )
        r.check(
            "Bad input",
            "Impossible cell number (1e14)",
            "refused; nothing written",
            counted(
                lambda: _refused(
                    lambda: counts.record_count(
                        counts.RecordCount(c["lot2"], 10**14, 10**13, day=1),
                        db=db,
                        actor=tech,
                        now=now,
                    )
                )
            ),
        )

        def bad_parse() -> tuple[bool, str]:
            from mfg.domain.numbers import parse_cells

            outs = []
            for text in ("NaN", "inf", "1e999", "-5e8", "'; DROP TABLE lot; --", "1.2.3e9"):
                ok, obs = _refused(lambda t=text: parse_cells(t, "viable"))  # type: ignore[misc]
                outs.append((ok, f"{text!r}: {obs.split(' [')[-1].rstrip(']') if ok else obs}"))
            return all(o for o, _ in outs), "; ".join(x for _, x in outs)

        r.check(
            "Bad input",
            "Hostile number text (NaN, inf, 1e999, negative, SQL)",
            "each refused with a rule",
            bad_parse,
        )

        def text_verbatim() -> tuple[bool, str]:
            hostile = "NC-200 'x'; DROP TABLE lot;-- ñ µ é"
            v = counts.record_count(
                counts.RecordCount(c["lot2"], 200_000_000, 150_000_000, day=1, method=hostile),
                db=db,
                actor=tech,
                now=now,
            )
            with db.read() as s:
                stored = s.get(CellCount, v.id).method  # type: ignore[union-attr]
            return stored == hostile, f"stored {stored!r}"

        r.check(
            "Bad input",
            "Text with SQL and unicode is stored verbatim",
            "method stored exactly as typed",
            text_verbatim,
        )

        r.check(
            "Bad input",
            "Harvest outside the day 10-14 window without a deviation",
            "refused [harvest-outside-window]; nothing written",
            counted(
                lambda: _refused(
                    lambda: _harvest_early(harvest, counts, c["lot2"], today, db, tech, now),
                    "harvest-outside-window",
                )
            ),
        )

        # -- refusals: wrong roles ----------------------------------------------------------------
        sponsor = a.get("oq-sponsor") or Actor("oq-sponsor", "OQ-SPONSOR", Role.SPONSOR)
        r.check(
            "Roles",
            "A sponsor cannot register a lot",
            "refused [not-permitted]",
            lambda: _refused(
                lambda: lots.register_lot(
                    lots.RegisterLot("OQ-001", "apheresis", apheresis_on=day0),
                    db=db,
                    actor=sponsor,
                    now=now,
                ),
                kind=NotPermitted,
            ),
        )
        r.check(
            "Roles",
            "An admin cannot record counts (separation of duties)",
            "refused [not-permitted]",
            lambda: _refused(
                lambda: counts.record_count(
                    counts.RecordCount(c["lot2"], 2_000, 1_000, day=1),
                    db=db,
                    actor=a["admin"],
                    now=now,
                ),
                kind=NotPermitted,
            ),
        )
        r.check(
            "Roles",
            "A technician cannot read the audit trail",
            "refused [not-permitted]",
            lambda: _refused(lambda: audit_trail.verify(db=db, actor=tech), kind=NotPermitted),
        )

        # -- accounts, concurrency, tamper evidence -------------------------------------------------
        def lockout() -> tuple[bool, str]:
            for _ in range(5):
                with suppress(AuthenticationFailed):
                    users.login(db, "oq-sponsor", "not-the-password", now=now)
            ok, obs = _refused(
                lambda: users.login(db, "oq-sponsor", password, now=now), "account-locked"
            )
            return ok, obs

        r.check(
            "Accounts",
            "Lockout after 5 wrong passwords",
            "even the right password refused [account-locked]",
            lockout,
        )

        def stale_edit() -> tuple[bool, str]:
            g = counts.growth(c["lot2"], db=db, actor=tech, now=now)
            cid = g.counts[0].id
            counts.correct_count(
                cid,
                counts.RecordCount(c["lot2"], 210_000_000, 150_000_000, day=1),
                "recount",
                db=db,
                actor=tech2,
                now=now,
                expected_version=1,
            )
            return _refused(
                lambda: counts.correct_count(
                    cid,
                    counts.RecordCount(c["lot2"], 220_000_000, 150_000_000, day=1),
                    "other",
                    db=db,
                    actor=tech,
                    now=now,
                    expected_version=1,
                ),
                kind=Conflict,
            )

        r.check(
            "Concurrency",
            "Two people correct the same count",
            "the second gets 'changed by X at T' [changed-by-someone-else]",
            stale_edit,
        )

        def tamper() -> tuple[bool, str]:
            from sqlalchemy import text

            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE cellcount SET viable_cells = viable_cells * 10 WHERE id = (SELECT min(id) FROM cellcount)"
                    )
                )
            v = audit_trail.verify(db=db, actor=qa)
            named = [p for p in v.record_problems if "viable_cells" in p]
            return (not v.ok) and bool(named), (
                named[0] if named else f"verify ok={v.ok}: not detected"
            )

        r.check(
            "Tamper evidence",
            "A count changed directly in SQL is found",
            "audit verify fails, naming the count and field",
            tamper,
        )
    finally:
        db.dispose()


def _harvest_early(
    harvest: Any, counts: Any, lot: str, today: Any, db: Any, tech: Any, now: datetime
) -> None:
    harvest.record_harvest(
        harvest.RecordHarvest(lot, today, 1_000_000_000, 30.0), db=db, actor=tech, now=now
    )


# -- the report ------------------------------------------------------------------------------


def write_pdf(q: Qualification, path: Path) -> Path:
    """The qualification report (reportlab): version, environment, each check, who and when."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    counts_ = q.counts
    verdict = "PASSED" if q.passed else "FAILED"

    def p(text: str, style: Any = small) -> Paragraph:
        return Paragraph(escape(text), style)

    def when(at: datetime | None) -> str:
        if at is None:
            return "-"
        from zoneinfo import ZoneInfo

        return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({at.astimezone(ZoneInfo(q.site_zone)):%Y-%m-%d %H:%M %Z})"

    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"CellTrail operational qualification {q.version}",
        author=q.run_by_name,
    )
    story: list[Any] = [
        Paragraph(
            f"CellTrail {escape(q.version)}: operational qualification (OQ)", styles["Title"]
        ),
        Paragraph(
            f"Result: <b>{verdict}</b>: {counts_[PASS]} passed, {counts_[FAIL]} failed, "
            f"{counts_[NOT_AVAILABLE]} not available, of {len(q.checks)} checks.",
            styles["Heading3"],
        ),
        Paragraph(
            escape(
                f"Run by {q.run_by_name} ({q.run_by}, role {q.run_by_role}); started {when(q.started_at)}, "
                f"finished {when(q.finished_at)}. Database kind: {q.database_kind}. "
                "All checks ran on a scratch database created for this run and removed afterwards; "
                "the production database was only read."
            ),
            styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    env = Table([[p(k), p(v)] for k, v in q.environment.items()], colWidths=[55 * mm, 200 * mm])
    env.setStyle(
        TableStyle(
            [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        )
    )
    story += [Paragraph("Environment", styles["Heading3"]), env, Spacer(1, 4 * mm)]
    rows = [[p(h) for h in ("#", "step", "check", "expected", "observed", "result", "time")]]
    colour = {
        PASS: colors.HexColor("#d9f2d9"),
        FAIL: colors.HexColor("#f8d0d0"),
        NOT_AVAILABLE: colors.HexColor("#eeeeee"),
    }
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
        ("REPEATROWS", (0, 0), (-1, 0)),
    ]
    for i, c in enumerate(q.checks, start=1):
        rows.append(
            [
                p(c.number),
                p(c.step),
                p(c.title),
                p(c.expected),
                p(c.observed),
                p(c.status.upper()),
                p(f"{c.seconds * 1000:.0f} ms"),
            ]
        )
        style.append(("BACKGROUND", (5, i), (5, i), colour.get(c.status, colors.white)))
    t = Table(
        rows,
        colWidths=[10 * mm, 22 * mm, 48 * mm, 55 * mm, 100 * mm, 20 * mm, 15 * mm],
        repeatRows=1,
    )
    t.setStyle(TableStyle(style))
    story += [Paragraph("Checks", styles["Heading3"]), t, Spacer(1, 8 * mm)]
    sign = Table(
        [
            [
                p("Executed by"),
                p(f"{q.run_by_name} ({q.run_by})"),
                p("Reviewed and approved by (QA)"),
                p(""),
            ],
            [p("Signature / date"), p(""), p("Signature / date"), p("")],
        ],
        colWidths=[35 * mm, 90 * mm, 50 * mm, 95 * mm],
        rowHeights=[9 * mm, 12 * mm],
    )
    sign.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
    story.append(sign)

    def footer(canvas: Any, d: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            12 * mm,
            7 * mm,
            f"CellTrail {q.version} OQ report, {verdict}, run {q.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC by {q.run_by}",
        )
        canvas.drawRightString(landscape(A4)[0] - 12 * mm, 7 * mm, f"page {d.page}")
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return path
