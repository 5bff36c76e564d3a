"""Sample label content for render tests (no database)."""

from __future__ import annotations

from datetime import date

from labels import content, layouts
from labels.content import Label
from labels.payload import LabelKind, LabelRef, encode
from mfg.domain.ids import coi

COI = coi("A9990", 26, 1).content
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
    "zone": "UTC+08:00",
}
COLLECTED = {LabelKind.APHERESIS_BAG: date(2026, 11, 14), LabelKind.PBMC_VIAL: date(2026, 10, 15)}
EXPIRES = date(2027, 11, 25)


def isbt(kind: LabelKind, bag: int | None = None) -> tuple[str, str]:
    return layouts.isbt_message(
        coi("A9990", 26, 1),
        layouts.product_codes("BH002"),
        kind,
        LOT,
        bag_no=bag,
        expires_on=EXPIRES if kind is LabelKind.DOSE_BAG else None,
        collected_on=COLLECTED.get(kind),
    )


def sample(kind: LabelKind, key: str | None = None, bag: tuple[int, int] = (2, 3)) -> Label:
    if kind is LabelKind.DOSE_BAG:
        message, product = isbt(kind, bag[0])
        return content.DoseBagLabel(
            payload=encode(LabelRef(kind, LOT, COI, *bag), key),
            isbt128=message,
            isbt_product=product,
            bag_no=bag[0],
            bag_count=bag[1],
            volume_ml=50.0,
            car_viable_cells=300_000_000,
            cryopreserved_on=date(2026, 11, 25),
            expires_on=EXPIRES,
            storage="Store <= -150 °C, vapour phase of liquid nitrogen",
            **COMMON,  # type: ignore[arg-type]
        )
    extra: dict[str, object] = {
        LabelKind.APHERESIS_BAG: {"collected_on": COLLECTED[LabelKind.APHERESIS_BAG]},
        LabelKind.PBMC_VIAL: {"collected_on": COLLECTED[LabelKind.PBMC_VIAL]},
        LabelKind.CULTURE: {"day0": date(2026, 11, 14), "source": "apheresis"},
        LabelKind.QC_SAMPLE: {"sampled_on": date(2026, 11, 25)},
    }[kind]
    message, product = isbt(kind)
    cls = content.LABEL_CLASSES[kind]
    return cls(  # type: ignore[arg-type]
        payload=encode(LabelRef(kind, LOT, COI), key),
        isbt128=message,
        isbt_product=product,
        **COMMON,
        **extra,
    )
