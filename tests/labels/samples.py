"""Sample label content for render tests (no database)."""

from __future__ import annotations

from datetime import date

from labels import content
from labels.content import Label
from labels.payload import LabelKind, LabelRef, encode
from mfg.domain.ids import coi_code

COI = coi_code("W0001", 26, 1)
LOT = "BH002-26-0001"
COMMON: dict[str, object] = {
    "product_name": "BH002 injection, CD19-BCMA CAR-T cells",
    "product_short": "BH002",
    "lot_number": LOT,
    "coi": COI,
    "subject_id": "S-001",
    "initials": "AB",
    "dob": date(1988, 4, 2),
    "facility": "Test GMP Facility",
}


def sample(kind: LabelKind, key: str | None = None, bag: tuple[int, int] = (2, 3)) -> Label:
    if kind is LabelKind.DOSE_BAG:
        return content.DoseBagLabel(
            payload=encode(LabelRef(kind, LOT, COI, *bag), key),
            bag_no=bag[0],
            bag_count=bag[1],
            volume_ml=50.0,
            car_viable_cells=300_000_000,
            cryopreserved_on=date(2026, 11, 25),
            expires_on=date(2027, 11, 25),
            storage="Store <= -150 °C, vapour phase of liquid nitrogen",
            **COMMON,  # type: ignore[arg-type]
        )
    extra: dict[str, object] = {
        LabelKind.APHERESIS_BAG: {"collected_on": date(2026, 11, 14)},
        LabelKind.PBMC_VIAL: {"collected_on": date(2026, 10, 15)},
        LabelKind.CULTURE: {"day0": date(2026, 11, 14), "source": "apheresis"},
        LabelKind.QC_SAMPLE: {"sampled_on": date(2026, 11, 25)},
    }[kind]
    cls = content.LABEL_CLASSES[kind]
    return cls(payload=encode(LabelRef(kind, LOT, COI), key), **COMMON, **extra)  # type: ignore[arg-type]
