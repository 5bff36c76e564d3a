"""What each label kind shows: frozen dataclasses built by the services, turned into lines here.

Every kind carries the chain of identity: product name, lot number, the ISBT 128 Chain of
Identity Identifier eye-readable with its keyboard check character K (drawn in a box by the
layout), subject id and a second identifier (initials and date of birth where the subject record
has them), the ISBT 128 compound message for the Data Matrix symbol and the QR payload. Dates of
collection and expiry carry a time and the site's UTC offset (23:59 when CellTrail recorded no
time, as ISBT 128 encodes it). 21 CFR 1271.90(c): "FOR AUTOLOGOUS USE ONLY" on
material stored for autologous use, and "NOT EVALUATED FOR INFECTIOUS SUBSTANCES" unless the
donor screening and testing were done (they are not for autologous starting material, so it is
on by default). 21 CFR 1271.370: storage temperature and expiry on the product label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum
from typing import ClassVar

from labels.payload import LabelKind, LabelRef
from mfg.domain.ids import Coi, coi_from_content
from mfg.domain.isbt128 import UNKNOWN_TIME
from mfg.domain.numbers import format_cells

AUTOLOGOUS = "FOR AUTOLOGOUS USE ONLY"
NOT_EVALUATED = "NOT EVALUATED FOR INFECTIOUS SUBSTANCES"
NOT_FOR_INFUSION = "QC SAMPLE - NOT FOR INFUSION"
INFUSION_NOTE = "Thaw at bedside; start infusion within 30 min of thaw. Do not refreeze."

# Storage conditions by kind where the product specification gives none (placeholders until
# the sponsor's SOPs fix them; a dose bag takes the product's own storage text).
DEFAULT_STORAGE: dict[LabelKind, str] = {
    LabelKind.APHERESIS_BAG: "Store and ship at 2-8 °C. Do not freeze.",
    LabelKind.PBMC_VIAL: "Store <= -150 °C, vapour phase LN2",
    LabelKind.CULTURE: "Incubate 37 °C, 5 % CO2",
    LabelKind.QC_SAMPLE: "Store 2-8 °C until tested",
    LabelKind.DOSE_BAG: "Store <= -150 °C, vapour phase LN2",
}


COMPACT_STORAGE: dict[LabelKind, str] = {
    LabelKind.APHERESIS_BAG: "2-8 °C, do not freeze",
    LabelKind.PBMC_VIAL: "<= -150 °C (LN2 vapour)",
    LabelKind.CULTURE: "37 °C, 5 % CO2",
    LabelKind.QC_SAMPLE: "2-8 °C until tested",
    LabelKind.DOSE_BAG: "<= -150 °C (LN2 vapour)",
}


class Style(StrEnum):
    TITLE = "title"  # the kind, bold, largest
    KEY = "key"  # lot, subject: bold
    COI = "coi"  # the CoI: monospaced bold, K in a box after it
    TEXT = "text"
    WARN = "warn"  # regulatory statements: bold


@dataclass(frozen=True)
class Line:
    text: str
    style: Style = Style.TEXT


def _d(value: date | None, at: time | None = None, zone: str = "") -> str:
    if value is None:
        return "____-__-__"
    if zone:  # a date that carries a time (ISBT 128 005/007): 23:59 when none was recorded
        return f"{value.isoformat()} {(at or UNKNOWN_TIME).strftime('%H:%M')} {zone}"
    return value.isoformat() + (f" {at.strftime('%H:%M')}" if at else "")


@dataclass(frozen=True, kw_only=True)
class Label:
    """What every label shows. ``payload`` is the encoded QR text (``labels.payload.encode``)."""

    kind: ClassVar[LabelKind]
    title: ClassVar[str]
    short_title: ClassVar[str]  # on small labels

    product_name: str
    lot_number: str
    coi: str  # CoI data content (15 characters)
    subject_id: str
    payload: str
    isbt128: str = ""  # the compound message in the Data Matrix symbol
    isbt_product: str = ""  # structure 003, for its Code 128 symbol
    zone: str = ""  # the site's UTC offset, printed after times
    initials: str | None = None
    dob: date | None = None
    product_short: str = ""  # e.g. the product code, on small labels
    storage: str = ""
    storage_short: str = ""  # on small labels
    facility: str = ""
    autologous: bool = True
    not_evaluated: bool = True

    @property
    def coi_value(self) -> Coi:
        return coi_from_content(self.coi)

    @property
    def coi_eye_readable(self) -> str:
        return self.coi_value.eye_readable

    @property
    def ref(self) -> LabelRef:
        return LabelRef(self.kind, self.lot_number, self.coi)

    @property
    def second_identifier(self) -> str:
        parts = [p for p in (self.initials, f"DOB {self.dob}" if self.dob else None) if p]
        return " ".join(parts)

    def heading(self, compact: bool = False) -> str:
        return self.short_title if compact else self.title

    def details(self, compact: bool = False) -> list[Line]:
        """Kind-specific lines between the identity block and the warnings."""
        return []

    def warnings(self) -> list[str]:
        out = [AUTOLOGOUS] if self.autologous else []
        return out + ([NOT_EVALUATED] if self.not_evaluated else [])

    def lines(self, compact: bool = False) -> list[Line]:
        """The label's text, most important first; ``compact`` for 1-inch-high stocks."""
        if compact:
            second = " ".join(p for p in (self.initials, str(self.dob or "")) if p)
            subject = f"Subj {self.subject_id} {second}".rstrip()
            product = self.product_short or self.product_name
            storage = self.storage_short or COMPACT_STORAGE.get(self.kind, "")
        else:
            subject = f"Subject {self.subject_id}"
            if self.second_identifier:
                subject += f"  {self.second_identifier}"
            product = self.product_name
            storage = self.storage
        out = [
            Line(self.heading(compact), Style.TITLE),
            Line(product),
            Line(f"Lot {self.lot_number}", Style.KEY),
            Line(f"CoI {self.coi_value.text}", Style.COI),
            Line(subject, Style.KEY),
            *self.details(compact),
            Line(storage or DEFAULT_STORAGE[self.kind]),
        ]
        out += [Line(w, Style.WARN) for w in self.warnings()]
        if self.facility and not compact:
            out.append(Line(self.facility))
        return out


@dataclass(frozen=True, kw_only=True)
class ApheresisBagLabel(Label):
    kind: ClassVar[LabelKind] = LabelKind.APHERESIS_BAG
    title: ClassVar[str] = "APHERESIS BAG"
    short_title: ClassVar[str] = "APHERESIS BAG"
    collected_on: date | None = None
    collected_time: time | None = None

    def details(self, compact: bool = False) -> list[Line]:
        return [Line(f"Collected {_d(self.collected_on, self.collected_time, self.zone)}")]


@dataclass(frozen=True, kw_only=True)
class PbmcVialLabel(Label):
    kind: ClassVar[LabelKind] = LabelKind.PBMC_VIAL
    title: ClassVar[str] = "PBMC CRYOVIAL"
    short_title: ClassVar[str] = "PBMC CRYOVIAL"
    collected_on: date | None = None
    collected_time: time | None = None

    def details(self, compact: bool = False) -> list[Line]:
        return [Line(f"Collected {_d(self.collected_on, self.collected_time, self.zone)}")]


@dataclass(frozen=True, kw_only=True)
class CultureLabel(Label):
    kind: ClassVar[LabelKind] = LabelKind.CULTURE
    title: ClassVar[str] = "CULTURE VESSEL"
    short_title: ClassVar[str] = "CULTURE VESSEL"
    day0: date | None = None
    source: str = ""

    def details(self, compact: bool = False) -> list[Line]:
        src = f" ({self.source})" if self.source else ""
        return [Line(f"Day 0 {_d(self.day0)}{src}")]


@dataclass(frozen=True, kw_only=True)
class QcSampleLabel(Label):
    kind: ClassVar[LabelKind] = LabelKind.QC_SAMPLE
    title: ClassVar[str] = NOT_FOR_INFUSION
    short_title: ClassVar[str] = "QC - NOT FOR INFUSION"
    autologous: bool = False
    sampled_on: date | None = None

    def details(self, compact: bool = False) -> list[Line]:
        return [Line(f"Sampled {_d(self.sampled_on)}")]


@dataclass(frozen=True, kw_only=True)
class DoseBagLabel(Label):
    kind: ClassVar[LabelKind] = LabelKind.DOSE_BAG
    title: ClassVar[str] = "FINAL PRODUCT"
    short_title: ClassVar[str] = "FINAL PRODUCT"
    bag_no: int
    bag_count: int
    volume_ml: float
    car_viable_cells: int
    cryopreserved_on: date | None = None
    expires_on: date | None = None
    expires_time: time | None = None

    @property
    def ref(self) -> LabelRef:
        return LabelRef(self.kind, self.lot_number, self.coi, self.bag_no, self.bag_count)

    def heading(self, compact: bool = False) -> str:
        return f"DOSE BAG {self.bag_no} of {self.bag_count}"

    def details(self, compact: bool = False) -> list[Line]:
        cells = format_cells(self.car_viable_cells)
        if compact:
            return [
                Line(f"{self.volume_ml:g} mL {cells} CAR+ cells"),
                Line(f"EXP {_d(self.expires_on, self.expires_time, self.zone)}", Style.KEY),
            ]
        return [
            Line(f"{self.volume_ml:g} mL  {cells} CAR+ viable T cells"),
            Line(f"Cryopreserved {_d(self.cryopreserved_on)}"),
            Line(f"EXP {_d(self.expires_on, self.expires_time, self.zone)}", Style.KEY),
            Line(INFUSION_NOTE),
        ]


LABEL_CLASSES: dict[LabelKind, type[Label]] = {
    cls.kind: cls
    for cls in (ApheresisBagLabel, PbmcVialLabel, CultureLabel, QcSampleLabel, DoseBagLabel)
}
