"""Every symbol of every label kind decoded from PDF and PNG with zxing-cpp and each ISBT 128
structure checked field by field; the README's dose-bag picture is the current rendering."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from labels.payload import LabelKind, decode
from labels.render import render
from labels.stocks import DEFAULT_STOCK, get_stock
from mfg.domain import isbt128
from tests.labels.samples import COI, COLLECTED, EXPIRES, LOT, sample

DOC_PNG = Path(__file__).resolve().parents[2] / "docs" / "dose-bag-label.png"


def symbols(img: Image.Image) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in zxingcpp.read_barcodes(img):
        out.setdefault(r.format.name, []).append(r.text)
    return {k: sorted(v) for k, v in out.items()}


def check_message(kind: LabelKind, text: str, bag: int | None) -> None:
    parts = isbt128.parse(text)
    by = {p.spec.number: p for p in parts}
    expected = ["040", "003"]
    if kind is LabelKind.DOSE_BAG:
        expected.append("005")
    if kind in COLLECTED:
        expected.append("007")
    assert [p.spec.number for p in parts] == [*expected, "035"]
    assert text.startswith(f"=+{len(parts):02d}000")
    assert by["040"].content == COI and by["040"].fields == {
        "fin": "A9990",
        "year": "26",
        "sequence": "000001",
    }
    product = by["003"].fields
    assert product["collection_type"] == "1"  # for autologous use only
    assert str(product["pdc"]).startswith(("S", "Y"))
    assert product["division"] == (isbt128.division_code(bag) if bag else "00")
    if "005" in by:
        assert by["005"].fields == {"date": EXPIRES, "time": isbt128.UNKNOWN_TIME}
    if "007" in by:
        assert by["007"].fields == {"date": COLLECTED[kind], "time": isbt128.UNKNOWN_TIME}
    assert by["035"].fields == {"lot": LOT.replace("-", "")}


@pytest.mark.parametrize("kind", list(LabelKind))
@pytest.mark.parametrize("fmt", ["pdf", "png"])
def test_every_symbol_reads_back_field_by_field(kind, fmt):
    label = sample(kind)
    stock = get_stock(DEFAULT_STOCK[kind])
    data = render([label], stock, fmt)
    if fmt == "pdf":
        img = pdfium.PdfDocument(data)[0].render(scale=300 / 72).to_pil()
    else:
        img = Image.open(io.BytesIO(data))
    found = symbols(img)
    assert found["QRCode"] == [label.payload] and decode(label.payload) == label.ref
    assert found["DataMatrix"] == [label.isbt128]
    bag = 2 if kind is LabelKind.DOSE_BAG else None
    check_message(kind, found["DataMatrix"][0], bag)
    if stock.label_h >= 2 * 72:  # Code 128 where the stock has room
        assert found["Code128"] == sorted([f"&/{COI}", label.isbt_product])
    else:
        assert "Code128" not in found


def test_the_readme_dose_bag_picture_shows_the_current_symbols():
    label = sample(LabelKind.DOSE_BAG)
    found = symbols(Image.open(DOC_PNG))
    assert found == {
        "Code128": sorted([f"&/{COI}", label.isbt_product]),
        "DataMatrix": [label.isbt128],
        "QRCode": [label.payload],
    }


ZPL_DM = re.compile(r"\^BXN,(\d+),200\^FD(.*?)\^FS")
ZPL_C128 = re.compile(r"\^BY(\d+)\^BCN,(\d+),N,N,N,A\^FD(.*?)\^FS")


@pytest.mark.parametrize("kind", list(LabelKind))
@pytest.mark.parametrize("dpi", [203, 300])
def test_zpl_symbols_field_by_field(kind, dpi):
    """Our own minimal ZPL reading: the ^BX (ECC 200) field holds the compound message and the
    ^BC fields the CoI and product code, each structure checked as in the PDF."""
    label = sample(kind)
    stock = get_stock(DEFAULT_STOCK[kind])
    zpl = render([label], stock, "zpl", dpi=dpi).decode()
    (dm,) = ZPL_DM.findall(zpl)
    assert dm[1] == label.isbt128 and int(dm[0]) * 25.4 / dpi >= 0.25 - 0.13  # >= 0.25 mm +- 1 dot
    check_message(kind, dm[1], 2 if kind is LabelKind.DOSE_BAG else None)
    linear = ZPL_C128.findall(zpl)
    if stock.label_h >= 2 * 72:
        assert sorted(x[2] for x in linear) == sorted([f"&/{COI}", label.isbt_product])
        for width, height, _ in linear:
            assert int(height) * 25.4 / dpi >= 5 - 0.2  # bars at least 5 mm high
            assert int(width) >= 1
    else:
        assert linear == []
