"""ISBT 128 data structures CellTrail writes and reads (ICCBBA ST-001 v6.2.2, public parts).

Each structure is a data identifier (2-3 ASCII characters starting ``=`` or ``&``) followed by
fixed-length data content:

- 023 Compound Message ``=+aabbb``: ``aa`` structures follow, ``bbb`` 000 = undefined sequence
  (the only kind CellTrail writes or reads; the ICCBBA table of specified sequences, W2, is not
  public).
- 040 Chain of Identity Identifier ``&/CHαppppyynnnnnn`` (``mfg.domain.ids``).
- 003 Product Code ``=<αooootds``: product description code ``αoooo`` (S cellular therapy, Y
  clinical trial), ``t`` type of collection (ST-001 table 7), ``ds`` division code (uppercase
  letter + lowercase letter or ``0``; ``00`` undivided).
- 005 Expiration Date and Time ``&>cyyjjjhhmm`` and 007 Collection Date and Time
  ``&*cyyjjjhhmm``: century digit, year, day of year, hour, minute (``2359`` when no time).
- 035 MPHO Lot Number ``&,1`` + 18 characters A-Z/0-9, zero-padded at the front: CellTrail puts
  the lot number there (hyphens dropped) so that a bag is told apart from a bag of another lot of
  the same therapy event.

Nothing here reads a clock or a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from mfg.domain.ids import COI_CONTENT_RE, COI_DI
from mfg.errors import RuleViolation

UNKNOWN_TIME = time(23, 59)  # ST-001: 2359 when no time is specified

# ST-001 table 7: type of collection (6th character of an S/Y product code)
COLLECTION_TYPES: dict[str, str] = {
    "0": "not specified",
    "V": "volunteer homologous (allogeneic)",
    "R": "volunteer research",
    "S": "volunteer source",
    "T": "volunteer therapeutic",
    "P": "paid homologous (allogeneic)",
    "r": "paid research",
    "s": "paid source",
    "A": "autologous, eligible for crossover",
    "1": "for autologous use only",
    "X": "for autologous use only, biohazard",
    "D": "volunteer directed, eligible for crossover",
    "d": "paid directed, eligible for crossover",
    "2": "for directed recipient use only",
    "L": "for directed recipient use only, limited exposure",
    "E": "medical exception, for specified recipient only (allogeneic)",
    "Q": "see special testing bar code",
    "3": "for directed recipient use only, biohazard",
    "4": "designated",
    "5": "dedicated",
    "6": "designated, biohazard",
    "F": "family reserved",
    "C": "replacement",
    "7": "for allogeneic use",
    "8": "for autologous use, contains allogeneic material",
    "B": "directed/dedicated/designated collection use only",
    "H": "directed/dedicated/designated collection/biohazardous",
    "J": "directed/dedicated/designated collection/eligible for crossover",
    "G": "for emergency use only",
}
AUTOLOGOUS_ONLY = "1"
PDC_RE = re.compile(r"^(S[0-9A-Z]{4}|Y[A-Z][0-9]{3})$")  # S family, Y family YA000-YZ999
DIVISION_RE = re.compile(r"^(00|[A-Z][a-z0]|[A-Z]0)$")
MAX_DIVISIONS = 26


@dataclass(frozen=True)
class Spec:
    number: str
    name: str
    di: str
    length: int


COMPOUND = Spec("023", "Compound Message", "=+", 5)
COI = Spec("040", "Chain of Identity Identifier", COI_DI, 15)
PRODUCT = Spec("003", "Product Code", "=<", 8)
EXPIRY = Spec("005", "Expiration Date and Time", "&>", 10)
COLLECTION = Spec("007", "Collection Date and Time", "&*", 10)
MPHO_LOT = Spec("035", "MPHO Lot Number", "&,1", 18)
READ = (COMPOUND, COI, PRODUCT, EXPIRY, COLLECTION, MPHO_LOT)
BY_DI = {s.di: s for s in READ}


@dataclass(frozen=True)
class Structure:
    spec: Spec
    content: str
    fields: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        return self.spec.di + self.content

    @property
    def label(self) -> str:
        return f"{self.spec.number} {self.spec.name}"


def _refuse(spec: Spec | None, rule: str, message: str) -> RuleViolation:
    where = f"ISBT 128 {spec.number} {spec.name}" if spec else "ISBT 128"
    return RuleViolation("isbt128", rule, f"{where}: {message}")


# -- writing ----------------------------------------------------------------------------------


def division_code(bag_no: int) -> str:
    """Division code of dose bag ``bag_no`` (1 -> ``A0``, 2 -> ``B0`` ... 26 -> ``Z0``)."""
    if not 1 <= bag_no <= MAX_DIVISIONS:
        raise _refuse(PRODUCT, "division-range", f"bag {bag_no}: divisions A0-Z0 cover 1-26 bags")
    return f"{chr(ord('A') + bag_no - 1)}0"


def bag_of_division(ds: str) -> int | None:
    """Bag number of a division code written by ``division_code`` (None when undivided)."""
    return None if ds == "00" else ord(ds[0]) - ord("A") + 1


def product_code(pdc: str, collection_type: str = AUTOLOGOUS_ONLY, division: str = "00") -> str:
    """Data structure 003 (with its data identifier)."""
    content = f"{pdc}{collection_type}{division}"
    check_product(content)
    return PRODUCT.di + content


def date_time(at: datetime | date, at_time: time | None = None) -> str:
    """``cyyjjjhhmm`` of a local date and time (23:59 when the time is not known)."""
    if isinstance(at, datetime):
        d, t = at.date(), at.time()
    else:
        d, t = at, at_time or UNKNOWN_TIME
    yday = d.timetuple().tm_yday
    return f"{d.year // 100 % 10}{d.year % 100:02d}{yday:03d}{t.hour:02d}{t.minute:02d}"


def utc_offset(zone: tzinfo, on: date) -> str:
    """The zone's UTC offset at 23:59 of ``on``, as printed after a time: ``UTC+08:00``."""
    off = datetime.combine(on, UNKNOWN_TIME, tzinfo=zone).utcoffset()
    minutes = int(off.total_seconds() // 60) if off else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def with_time(on: date, zone: tzinfo, at: time | None = None) -> str:
    """``2027-11-25 23:59 UTC+08:00``: a date CellTrail records without a time, as labels and
    the COA print it (23:59, ISBT 128's time when none is specified)."""
    return f"{on.isoformat()} {(at or UNKNOWN_TIME).strftime('%H:%M')} {utc_offset(zone, on)}"


def expiry(at: datetime | date, at_time: time | None = None) -> str:
    return EXPIRY.di + date_time(at, at_time)


def collection(at: datetime | date, at_time: time | None = None) -> str:
    return COLLECTION.di + date_time(at, at_time)


def mpho_lot(lot_number: str) -> str:
    """Structure 035 of a lot number: hyphens dropped, zero-padded to 18 characters."""
    compact = lot_number.replace("-", "")
    if not re.fullmatch(r"[A-Z0-9]{1,18}", compact):
        raise _refuse(MPHO_LOT, "characters", f"{lot_number!r} does not fit 18 of A-Z, 0-9")
    return MPHO_LOT.di + compact.rjust(18, "0")


def compound(structures: list[str]) -> str:
    """Data structure 023 (undefined sequence) followed by ``structures``."""
    if not 1 <= len(structures) <= 99:
        raise _refuse(COMPOUND, "count", "a compound message holds 1-99 data structures")
    return f"{COMPOUND.di}{len(structures):02d}000" + "".join(structures)


# -- reading ----------------------------------------------------------------------------------


def _date_fields(spec: Spec, content: str) -> dict[str, object]:
    if not content.isdigit():
        raise _refuse(spec, "characters", f"{content!r}: cyyjjjhhmm is 10 digits")
    c, yy, jjj, hh, mm = content[0], content[1:3], content[3:6], content[6:8], content[8:10]
    # c is the hundreds digit of the year (ST-001's example: 0180292359 is 29 Jan 2018 23:59)
    year = (2000 if c == "0" else 1900 if c == "9" else 2000 + int(c) * 100) + int(yy)
    days = 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365
    if not 1 <= int(jjj) <= days:
        raise _refuse(spec, "day-of-year", f"day {jjj} is not a day of {year} (001-{days})")
    if int(hh) > 23 or int(mm) > 59:
        raise _refuse(spec, "time", f"{hh}:{mm} is not a time of day (0000-2359)")
    d = date(year, 1, 1) + timedelta(days=int(jjj) - 1)
    return {"date": d, "time": time(int(hh), int(mm))}


def check_product(content: str) -> dict[str, object]:
    if len(content) != PRODUCT.length:
        raise _refuse(
            PRODUCT,
            "length",
            f"{content!r} is not a product description code (5), a type of collection (1) and a "
            f"division (2): {PRODUCT.length} characters, not {len(content)}",
        )
    pdc, t, ds = content[:5], content[5], content[6:8]
    if not re.fullmatch(r"[A-Z][A-Z0-9]{4}", pdc):
        raise _refuse(
            PRODUCT, "characters", f"product description code {pdc!r} is not A-Z + 4 of A-Z, 0-9"
        )
    if not PDC_RE.match(pdc):
        raise _refuse(
            PRODUCT,
            "product-family",
            f"{pdc!r} is not a cellular therapy (S) or clinical trial (YA000-YZ999) product code",
        )
    if t not in COLLECTION_TYPES:
        raise _refuse(PRODUCT, "collection-type", f"{t!r} is not a type of collection (table 7)")
    if not DIVISION_RE.match(ds):
        raise _refuse(
            PRODUCT, "division", f"{ds!r} is not a division code (uppercase + lowercase/0, or 00)"
        )
    return {"pdc": pdc, "collection_type": t, "division": ds}


def _fields(spec: Spec, content: str) -> dict[str, object]:
    if spec is COI:
        if COI_CONTENT_RE.fullmatch(content.swapcase()):
            raise _refuse(
                spec,
                "case",
                f"{content!r} has lower-case letters; ISBT 128 is case-sensitive: is the scanner "
                "or Caps Lock set to lower case? Scan again",
            )
        if not COI_CONTENT_RE.fullmatch(content):
            raise _refuse(spec, "characters", f"{content!r} is not CH + FIN + yy + 6 of A-Z, 0-9")
        return {"fin": content[2:7], "year": content[7:9], "sequence": content[9:15]}
    if spec is PRODUCT:
        return check_product(content)
    if spec in (EXPIRY, COLLECTION):
        return _date_fields(spec, content)
    if spec is MPHO_LOT:
        if not re.fullmatch(r"[A-Z0-9]{18}", content):
            raise _refuse(spec, "characters", f"{content!r} is not 18 of A-Z, 0-9")
        return {"lot": content.lstrip("0")}
    if not content.isdigit():
        raise _refuse(spec, "characters", f"{content!r}: aabbb is 5 digits")
    return {"count": int(content[:2]), "sequence": content[2:]}


def _one(text: str, pos: int) -> tuple[Structure, int]:
    """The structure starting at ``pos`` of ``text`` and the position after it."""
    spec = BY_DI.get(text[pos : pos + 3]) or BY_DI.get(text[pos : pos + 2])
    if spec is None:
        di = text[pos : pos + 2]
        if di[:1] not in ("=", "&"):
            raise _refuse(
                None, "data-identifier", f"{text[pos : pos + 8]!r} does not start with = or &"
            )
        raise _refuse(
            None,
            "unknown-structure",
            f"data identifier {di!r} is not one CellTrail reads (023, 040, 003, 005, 007, 035)",
        )
    start = pos + len(spec.di)
    content = text[start : start + spec.length]
    if len(content) != spec.length:
        raise _refuse(
            spec, "length", f"needs {spec.length} characters after {spec.di}, got {len(content)}"
        )
    return Structure(spec, content, _fields(spec, content)), start + spec.length


def parse(text: str) -> list[Structure]:
    """Every structure of a scanned ISBT 128 string (one structure or a compound message),
    each checked for length and characters; the compound message's count must match."""
    s = text.strip()
    if not s:
        raise _refuse(None, "empty", "nothing was scanned")
    if not s.isascii() or not s.isprintable():
        raise _refuse(None, "characters", "the scan holds characters no ISBT 128 label carries")
    first, pos = _one(s, 0)
    if first.spec is not COMPOUND:
        if pos != len(s):
            raise _refuse(first.spec, "length", f"{len(s) - pos} characters follow the structure")
        return [first]
    count, seq = int(first.content[:2]), first.content[2:]
    if seq != "000":
        raise _refuse(
            COMPOUND,
            "specified-sequence",
            f"sequence {seq} refers to ICCBBA table W2, which CellTrail does not hold; "
            "only undefined sequences (000) are read",
        )
    out: list[Structure] = []
    while pos < len(s):
        if len(out) == count:
            raise _refuse(COMPOUND, "count", f"more than the {count} structures it announces")
        st, pos = _one(s, pos)
        if st.spec is COMPOUND:
            raise _refuse(COMPOUND, "nested", "a compound message inside a compound message")
        out.append(st)
    if len(out) != count:
        raise _refuse(COMPOUND, "count", f"announces {count} structures, {len(out)} follow")
    return out


def find(structures: list[Structure], spec: Spec) -> Structure | None:
    hits = [s for s in structures if s.spec is spec]
    if len(hits) > 1:
        raise _refuse(spec, "repeated", "appears more than once")
    return hits[0] if hits else None


def looks_like_isbt128(text: str) -> bool:
    return text.strip()[:1] in ("=", "&")
