"""Each label kind rendered to PDF, PNG and ZPL; every QR code read back with zxing-cpp."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from labels.content import AUTOLOGOUS, NOT_EVALUATED, NOT_FOR_INFUSION
from labels.layout import MIN_SIZE, layout
from labels.payload import LabelKind, decode
from labels.render import render
from labels.stocks import DEFAULT_STOCK, STOCKS, get_stock
from mfg.domain.ids import coi_from_content
from mfg.errors import RuleViolation
from tests.labels.samples import COI, LOT, sample

KINDS = list(LabelKind)


def qr_texts(img: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(img) if r.format.name == "QRCode")


def pdf_pages(data: bytes, dpi: int = 300) -> list[Image.Image]:
    pdf = pdfium.PdfDocument(data)
    return [page.render(scale=dpi / 72).to_pil() for page in pdf]


def pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


@pytest.mark.parametrize("kind", KINDS)
def test_pdf_of_each_kind_reads_back(kind):
    label = sample(kind)
    data = render([label], get_stock(DEFAULT_STOCK[kind]), "pdf")
    assert data.startswith(b"%PDF")
    pages = pdf_pages(data)
    assert len(pages) == 1
    assert qr_texts(pages[0]) == [label.payload]
    assert decode(label.payload) == label.ref
    text = pdf_text(data)
    coi = coi_from_content(COI)
    assert f"Lot {LOT}" in text and f"CoI {coi.text}" in text and "S-001" in text
    assert text.count(coi.check) >= 1
    assert ("AB 1988-04-02" in text) or ("AB DOB 1988-04-02" in text)
    flat = " ".join(text.split())
    assert NOT_EVALUATED in flat
    assert (AUTOLOGOUS in flat) == (kind is not LabelKind.QC_SAMPLE)
    if kind is LabelKind.QC_SAMPLE:
        assert NOT_FOR_INFUSION.split(" - ")[1] in flat
    if kind is LabelKind.DOSE_BAG:
        assert "DOSE BAG 2 of 3" in text and "50 mL" in text and "3.0 x 10^8" in text
        assert "EXP 2027-11-25" in text and "-150" in text


@pytest.mark.parametrize("kind", KINDS)
def test_png_of_each_kind_reads_back_at_real_size(kind):
    label = sample(kind, key="site-secret")
    stock = get_stock(DEFAULT_STOCK[kind])
    img = Image.open(io.BytesIO(render([label], stock, "png", dpi=300)))
    assert img.size == (round(stock.label_w / 72 * 300), round(stock.label_h / 72 * 300))
    assert round(img.info["dpi"][0]) == 300
    assert qr_texts(img) == [label.payload]


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_leaves_the_label(kind):
    """Every text line and the QR code stay inside the label with a margin (no clipping)."""
    from labels.layout import _unit_width

    for name in (DEFAULT_STOCK[kind], "bag-4x2"):
        stock = get_stock(name)
        lay = layout(sample(kind), stock.label_w, stock.label_h)
        assert lay.texts and all(t.size >= MIN_SIZE for t in lay.texts)
        for t in lay.texts:
            assert t.x > lay.qr.x + lay.qr.side
            end = (
                t.box_rect()[0] + t.box_rect()[2]
                if t.box
                else t.x + _unit_width(t.text, t.bold) * t.size
            )
            assert end <= lay.width - 2.9
            assert t.baseline - t.size >= 0 and t.baseline + t.size * 0.25 <= lay.height - 2.9
        assert lay.qr.y >= 2.9 and lay.qr.y + lay.qr.side <= lay.height - 2.9


def test_sheet_of_many_labels_every_code_reads_back():
    labels = [sample(LabelKind.DOSE_BAG, bag=(n, 12)) for n in range(1, 13)]
    data = render(labels, STOCKS["letter-bag"], "pdf")
    pages = pdf_pages(data, dpi=200)
    assert len(pages) == 2  # 10 a sheet
    found = [t for page in pages for t in qr_texts(page)]
    assert sorted(found) == sorted(lb.payload for lb in labels)


def test_a4_sheet_of_small_labels_reads_back():
    labels = [sample(k) for k in (LabelKind.PBMC_VIAL, LabelKind.QC_SAMPLE)] * 16
    data = render(labels, STOCKS["a4"], "pdf")
    pages = pdf_pages(data, dpi=300)
    assert len(pages) == 2  # 30 a sheet
    found = [t for page in pages for t in qr_texts(page)]
    assert len(found) == 32
    assert sorted(set(found)) == sorted({lb.payload for lb in labels})


def test_content_that_cannot_fit_is_refused_not_clipped():
    from dataclasses import replace

    big = replace(sample(LabelKind.PBMC_VIAL), product_short="X" * 200, storage_short="Y " * 80)
    with pytest.raises(RuleViolation) as e:
        render([big], STOCKS["cryovial-2x1"], "pdf")
    assert e.value.rule == "label-does-not-fit"


def test_same_input_same_pdf_bytes():
    label = sample(LabelKind.DOSE_BAG)
    stock = get_stock("bag-4x2")
    assert render([label], stock, "pdf") == render([label], stock, "pdf")


def unhex(data: str) -> str:
    """Undo ^FH_ escapes."""
    return re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m[1], 16)), data)


ZPL_FIELD = re.compile(
    r"\^FO(\d+),(\d+)(\^A0N,(\d+),(\d+))?(\^FH_)?(\^BQN,2,(\d+))?(\^BXN,(\d+),200)?"
    r"(\^BY(\d+)\^BCN,(\d+),N,N,N,A)?\^FD(.*?)\^FS"
)
ZPL_BOX = re.compile(r"\^FO(\d+),(\d+)\^GB(\d+),(\d+),(\d+)\^FS")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dpi", [203, 300])
def test_zpl_field_by_field(kind, dpi):
    label = sample(kind, key="k")
    stock = get_stock(DEFAULT_STOCK[kind])
    zpl = render([label], stock, "zpl", dpi=dpi).decode("utf-8")
    assert zpl.startswith("^XA\n^CI28\n") and zpl.rstrip().endswith("^PQ1\n^XZ")
    w, h = round(stock.label_w * dpi / 72), round(stock.label_h * dpi / 72)
    assert f"^PW{w}\n" in zpl and f"^LL{h}\n" in zpl
    fields = ZPL_FIELD.findall(zpl)
    texts = [unhex(f[13]) for f in fields if f[3]]
    qrs = [f for f in fields if f[6]]
    lay = layout(label, stock.label_w, stock.label_h)
    # the text fields are the layout's lines, in order (the CoI's K right after its line)
    assert texts == [x for t in lay.texts for x in (t.text, t.box) if x]
    coi = coi_from_content(COI)
    assert f"Lot {LOT}" in texts and f"CoI {coi.text}" in texts and coi.check in texts
    assert len(ZPL_BOX.findall(zpl)) == 1  # the box around K
    # one QR field: model 2, error correction M, automatic mode, exactly the payload
    assert len(qrs) == 1 and qrs[0][13] == "MA," + label.payload and int(qrs[0][7]) >= 2
    # one Data Matrix field, ECC 200, exactly the compound message
    dms = [f for f in fields if f[8]]
    assert len(dms) == 1 and dms[0][13] == label.isbt128 and int(dms[0][9]) >= 1
    for f in fields:
        x, y = int(f[0]), int(f[1])
        assert 0 <= x < w and 0 <= y < h
        if f[3]:
            assert int(f[3]) >= 10 and y + int(f[3]) <= h
    # every ^FO line is a complete field; nothing else but the header and trailer
    body = [ln for ln in zpl.splitlines() if ln.startswith("^FO")]
    assert len(body) == len(fields) + len(ZPL_BOX.findall(zpl))


def test_zpl_escapes_control_characters():
    from dataclasses import replace

    label = replace(sample(LabelKind.CULTURE), facility="Lab ^XZ ~JR_1")
    zpl = render([label], get_stock("bag-4x2"), "zpl").decode()
    assert "Lab _5EXZ _7EJR_5F1" in zpl and zpl.count("^XZ") == 1


def test_zpl_of_several_bags_is_one_format_each():
    labels = [sample(LabelKind.DOSE_BAG, bag=(n, 3)) for n in (1, 2, 3)]
    zpl = render(labels, get_stock("bag-4x2"), "zpl").decode()
    assert zpl.count("^XA") == 3 and zpl.count("^XZ") == 3
    assert [m for m in re.findall(r"\^FDMA,(\S+?)\^FS", zpl)] == [lb.payload for lb in labels]
