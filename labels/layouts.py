"""Versioned label layouts: what each label kind carries, as one definition with a SHA-256.

A layout version names the text lines, symbols and ISBT 128 data structures of one label kind
(the renderer code of that version) and the ISBT 128 product codes it prints
(``coa_templates/isbt128-codes.toml``). QA approves a (kind, version, SHA-256) with an
electronic signature before CellTrail prints it; a definition that changed after approval
(the codes file edited) is refused until QA approves it again. Version 1 was CellTrail 0.1's
QR-only label (no longer printed); version 2 adds the ISBT 128 Data Matrix and Code 128 symbols.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from labels.payload import LabelKind
from mfg.domain import isbt128
from mfg.domain.ids import Coi
from mfg.errors import RuleViolation

CURRENT_VERSION = 2
CODES_FILE = Path(__file__).resolve().parent.parent / "coa_templates" / "isbt128-codes.toml"

STRUCTURES: dict[LabelKind, tuple[str, ...]] = {
    LabelKind.APHERESIS_BAG: ("040", "003", "007", "035"),
    LabelKind.PBMC_VIAL: ("040", "003", "007", "035"),
    LabelKind.CULTURE: ("040", "003", "035"),
    LabelKind.QC_SAMPLE: ("040", "003", "035"),
    LabelKind.DOSE_BAG: ("040", "003", "005", "035"),
}
DESCRIPTIONS = {
    1: "CellTrail 0.1: text and CellTrail QR code",
    2: "ISBT 128: CoI with boxed K in DejaVu Sans Mono, Data Matrix compound message "
    "(023: 040, 003, 005/007, 035), Code 128 CoI and product code on 2-inch stocks, "
    "CellTrail QR code; times with the site's UTC offset",
}


@dataclass(frozen=True)
class ProductCodes:
    collection_type: str
    by_kind: dict[str, str]

    def pdc(self, kind: LabelKind) -> str:
        return self.by_kind[kind.value]


def _codes_broken(why: str) -> RuleViolation:
    return RuleViolation(
        "isbt128_codes",
        "codes-file-broken",
        f"{CODES_FILE} {why}: no label is printed or approved until it is fixed",
    )


@functools.cache
def _codes_text() -> str:
    try:
        return CODES_FILE.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _codes_broken("is not UTF-8 text") from None
    except OSError as e:
        raise _codes_broken(f"cannot be read ({e.strerror or e})") from None


def _codes() -> dict[str, object]:
    """The codes file as a table (a file that is not TOML is refused, naming the file)."""
    try:
        return tomllib.loads(_codes_text())
    except tomllib.TOMLDecodeError as e:
        raise _codes_broken(f"is not valid TOML ({e})") from None


def product_codes(product: str) -> ProductCodes:
    """The ISBT 128 product description codes of ``product`` (checked)."""
    entry = _codes().get(product)
    if not isinstance(entry, dict):
        raise RuleViolation(
            "product",
            "no-isbt128-product-code",
            f"{CODES_FILE.name} has no ISBT 128 product codes for {product}",
        )
    ctype = str(entry.get("collection_type", isbt128.AUTOLOGOUS_ONLY))
    by_kind = {k.value: str(entry.get(k.value, "")) for k in LabelKind}
    for kind, pdc in by_kind.items():
        try:
            isbt128.product_code(pdc, ctype)
        except RuleViolation as e:
            raise RuleViolation(
                "product",
                "bad-isbt128-product-code",
                f"{CODES_FILE.name} [{product}] {kind}: {e.message}",
            ) from None
    return ProductCodes(ctype, by_kind)


def check_codes(kind: LabelKind) -> None:
    """Before QA approves a layout of ``kind``: the codes file names at least one product, and
    every product's codes are valid ISBT 128 product codes (else the refusal)."""
    products = [name for name, entry in _codes().items() if isinstance(entry, dict)]
    if not products:
        raise _codes_broken("names no product and its ISBT 128 product codes")
    for name in products:
        product_codes(name).pdc(kind)


def definition(kind: LabelKind, version: int = CURRENT_VERSION) -> dict[str, object]:
    if version not in DESCRIPTIONS:
        raise RuleViolation(
            "version", "unknown-layout-version", f"no label layout version {version}"
        )
    return {
        "kind": kind.value,
        "version": version,
        "description": DESCRIPTIONS[version],
        "isbt128_structures": list(STRUCTURES[kind]) if version >= 2 else [],
        "isbt128_codes": _codes() if version >= 2 else {},
    }


def definition_sha256(kind: LabelKind, version: int = CURRENT_VERSION) -> str:
    text = json.dumps(definition(kind, version), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def isbt_message(
    coi: Coi,
    codes: ProductCodes,
    kind: LabelKind,
    lot_number: str,
    *,
    bag_no: int | None = None,
    expires_on: date | None = None,
    collected_on: date | None = None,
) -> tuple[str, str]:
    """(compound message 023, product code 003) of one container label: CoI (040), product code
    (division = bag), expiry (005) where known, collection (007) on collection containers, lot
    (035). Times CellTrail does not record are 23:59 (ST-001)."""
    division = isbt128.division_code(bag_no) if bag_no is not None else "00"
    product = isbt128.product_code(codes.pdc(kind), codes.collection_type, division)
    parts = [coi.structure, product]
    if expires_on is not None:
        parts.append(isbt128.expiry(expires_on))
    if kind in (LabelKind.APHERESIS_BAG, LabelKind.PBMC_VIAL) and collected_on is not None:
        parts.append(isbt128.collection(collected_on))
    parts.append(isbt128.mpho_lot(lot_number))
    return isbt128.compound(parts), product
