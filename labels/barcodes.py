"""Data Matrix (ECC 200) and Code 128 symbols of ISBT 128 data, as module matrices.

Encoded with zxing-cpp's writer (``zxingcpp.create_barcode``): it picks the smallest square ECC 200
symbol (``forceSquare``) and switches Code 128 to subset C for digit runs (ST-001 section 6.1.1 asks for that).
reportlab 5.1's ``ECC200DataMatrix`` only makes a fixed 44 x 44 C40 symbol and the ones it made
of ISBT 128 strings (``=``, ``&``, ``<``) were not readable in our test, so it is not used.
Renderers draw the matrices themselves (PDF, PNG); ZPL hands the data to the printer (``^BX``,
``^BC``).
"""

from __future__ import annotations

import functools

import numpy as np

from labels.qr import Matrix


def _array(text: str, fmt: str, **options: object) -> np.ndarray:
    import zxingcpp

    code = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt), **options)
    return np.asarray(code.to_image(scale=1, add_quiet_zones=False))


@functools.lru_cache(maxsize=4096)
def datamatrix(text: str) -> Matrix:
    """Rows of dark (True) modules of the square ECC 200 symbol of ``text``, no quiet zone."""
    a = _array(text, "DataMatrix", forceSquare=True) < 128
    return tuple(tuple(bool(v) for v in row) for row in a)


@functools.lru_cache(maxsize=4096)
def code128(text: str) -> tuple[bool, ...]:
    """Dark (True) modules of the Code 128 symbol of ``text``, no quiet zone."""
    a = _array(text, "Code128") < 128
    return tuple(bool(v) for v in a[0])
