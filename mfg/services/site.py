"""Settings that belong to the site, kept in the database: the site time zone.

"Today" (a count dated tomorrow is refused, expansion day N, late entries) is the date in the
site's zone. The zone is a database setting that only an admin changes, audited, so that no
user's environment can move "today": ``MFG_SITE_TZ`` / ``site_timezone`` in config.toml only give
the initial value that ``mfg init`` stores when the database has none yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mfg.domain.reasons import require_reason
from mfg.domain.text import visible
from mfg.errors import RuleViolation
from mfg.services.uow import Actor, Database, Tx
from mfg.store.tables import SiteSetting

TIMEZONE_KEY = "site_timezone"


@dataclass(frozen=True)
class SiteZoneView:
    zone: str
    changed_by: str | None
    changed_at: datetime | None
    stored: bool  # False: not stored yet, the configured initial value applies


# tzdata names that are not a place: "Factory" (a placeholder, abbreviation "-00"), "localtime"
# (whatever the machine is set to: the zone would follow each server) and "posixrules"
NOT_A_SITE_ZONE = frozenset({"Factory", "localtime", "posixrules"})


def _refuse_zone(text: str, why: str) -> RuleViolation:
    return RuleViolation("zone", "unknown-time-zone", f"{visible(repr(text))} {why}")


def check_zone(text: str) -> str:
    """An IANA zone name exactly as tzdata lists it (e.g. ``Asia/Shanghai``), or the refusal."""
    zone = text if isinstance(text, str) else ""
    if zone != zone.strip():
        raise _refuse_zone(zone, "starts or ends with a space; retype it without")
    if not zone or len(zone) > 64 or any(not c.isprintable() or c.isspace() for c in zone):
        raise _refuse_zone(zone, "is not an IANA time zone")
    known = available_timezones() - NOT_A_SITE_ZONE
    if zone not in known:
        hint = next((z for z in sorted(known) if z.lower() == zone.lower()), None)
        raise _refuse_zone(
            zone,
            f"is not an IANA time zone; did you mean {hint}?"
            if hint
            else "is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)",
        )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse_zone(zone, "is not an IANA time zone") from None
    return zone


def store_initial_zone(tx: Tx, zone: str, by: str) -> bool:
    """``mfg init``: store the configured zone if the database has none yet (audited)."""
    if tx.session.get(SiteSetting, TIMEZONE_KEY) is not None:
        return False
    value = check_zone(zone)
    tx.session.add(SiteSetting(key=TIMEZONE_KEY, value=value, changed_by=by, changed_at=tx.now))
    tx.audit("site.timezone_set", "site", TIMEZONE_KEY, username=by, new={"zone": value})
    return True


def show_zone(*, db: Database, actor: Actor) -> SiteZoneView:
    with db.read() as s:
        row = s.get(SiteSetting, TIMEZONE_KEY)
    if row is None:
        return SiteZoneView(db.settings.site_timezone, None, None, False)
    return SiteZoneView(row.value, row.changed_by, row.changed_at, True)


def set_zone(zone: str, reason: str, *, db: Database, actor: Actor, now: datetime) -> SiteZoneView:
    """An admin changes the site time zone (audited, with a reason)."""
    actor.require("site.configure")
    value = check_zone(zone)
    why = require_reason(reason, "changing the site time zone needs a reason")
    with db.write(actor, now) as tx:
        row = tx.session.get(SiteSetting, TIMEZONE_KEY)
        old = row.value if row is not None else None
        if row is None:
            row = SiteSetting(
                key=TIMEZONE_KEY, value=value, changed_by=actor.username, changed_at=now
            )
        else:
            row.value, row.changed_by, row.changed_at = value, actor.username, now
            row.row_version += 1
        tx.session.add(row)
        tx.audit(
            "site.timezone_changed",
            "site",
            TIMEZONE_KEY,
            old={"zone": old},
            new={"zone": value},
            reason=why,
        )
        tx.commit()
    db.forget_zone()
    return SiteZoneView(value, actor.username, now, True)
