"""Installation: the scratch database at the newest schema, accounts of every role."""

from __future__ import annotations

from mfg.services import users
from mfg.store import db as store_db
from mfg.validation.context import Oq
from mfg.validation.registry import oq_check


@oq_check(
    "Installation",
    "Create the scratch database at the newest schema",
    "schema = head revision; first admin created",
)
def install(oq: Oq) -> tuple[bool, str]:
    rev, created = users.init_database(
        oq.db, admin="oq-admin", full_name="OQ Admin", password=oq.password, now=oq.now
    )
    head = store_db.head_revision(oq.url)
    return rev == head and created, f"schema {rev} (head {head}); admin created: {created}"


@oq_check(
    "Installation",
    "Accounts of every role; login",
    "technician x2, qa x2, sponsor added and logged in",
)
def accounts(oq: Oq) -> tuple[bool, str]:
    oq.actors["admin"] = oq.actor_admin
    for name, role in (
        ("oq-tech", "technician"),
        ("oq-tech2", "technician"),
        ("oq-qa", "qa"),
        ("oq-qa2", "qa"),
        ("oq-sponsor", "sponsor"),
    ):
        users.add_user(
            oq.db,
            actor=oq.actor_admin,
            username=name,
            full_name=name.upper(),
            role=role,
            password=oq.password,
            now=oq.now,
        )
        oq.actors[name] = users.login(oq.db, name, oq.password, now=oq.now)
    a = oq.actors
    return len(a) == 6, "logged in: " + ", ".join(f"{k} ({v.role})" for k, v in a.items())
