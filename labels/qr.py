"""QR matrices (the ``qrcode`` package): error correction M, alphanumeric mode, no border."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4096)
def qr_matrix(payload: str) -> tuple[tuple[bool, ...], ...]:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    code.make(fit=True)
    return tuple(tuple(bool(v) for v in row) for row in code.get_matrix())


def runs(row: tuple[bool, ...]) -> list[tuple[int, int]]:
    """(start, length) of each dark run in a row: one rectangle per run, not per module."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, dark in enumerate((*row, False)):
        if dark and start < 0:
            start = i
        elif not dark and start >= 0:
            out.append((start, i - start))
            start = -1
    return out
