"""QR matrices: error correction M, alphanumeric mode, no border.

Alphanumeric payloads (all of CellTrail's) are encoded here: codewords with a table-driven
Reed-Solomon encoder, bits placed with numpy on the version's function patterns (taken once per
version from the ``qrcode`` package, which also encodes anything else), and the mask choice of ISO/IEC 18004 section 7.8 (lowest penalty N1 + N2 + N3 + N4 of
the eight masks) is then made here with numpy on all eight candidates at once, instead of
``qrcode`` building and scoring eight symbols module by module (about 4x slower; the 1,000-label
sheet benchmark depends on it). The candidates are the complete symbols, format information
included, as the standard scores them (``qrcode`` scores them with blank format bits, so the two
sometimes pick different masks; both are valid symbols). Tests check every candidate and its
penalty against ``qrcode``'s own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Matrix = tuple[tuple[bool, ...], ...]
EC_M_BITS = 0  # error correction level M in the format information
LONG_DIGITS = re.compile(r"[0-9]{20}")
ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
# Alphanumeric characters a version holds at error correction M (ISO/IEC 18004 table 7).
ALNUM_CAPACITY_M = (20, 38, 61, 90, 122, 154, 178, 221, 262, 311)


def version_for(payload: str) -> int | None:
    """The smallest version for ``payload`` as one alphanumeric-mode segment, or None when it
    is not one (``qrcode`` then encodes it: numeric runs of 20 digits or more, other bytes)."""
    if (
        not payload
        or not ALNUM.issuperset(payload)
        or payload.isdigit()
        or LONG_DIGITS.search(payload)
    ):
        return None
    return next((v for v, cap in enumerate(ALNUM_CAPACITY_M, 1) if len(payload) <= cap), None)


@functools.cache
def _function_modules(n: int, version: int) -> npt.NDArray[np.bool_]:
    """True where a module belongs to a function pattern (finders, timing, alignment,
    format and version information) rather than to the data."""
    from qrcode import util

    f = np.zeros((n, n), dtype=bool)
    f[0:9, 0:9] = f[0:9, n - 8 :] = f[n - 8 :, 0:9] = True  # finders, separators, format
    f[6, :] = f[:, 6] = True  # timing
    centres = util.pattern_position(version)
    for r in centres:
        for c in centres:
            if not f[r, c]:
                f[r - 2 : r + 3, c - 2 : c + 3] = True  # alignment
    if version >= 7:
        f[0:6, n - 11 : n - 8] = f[n - 11 : n - 8, 0:6] = True  # version information
    return f


@functools.cache
def _masks(n: int) -> npt.NDArray[np.bool_]:
    i, j = np.indices((n, n))
    return np.stack(
        [
            (i + j) % 2 == 0,
            i % 2 == 0,
            j % 3 == 0,
            (i + j) % 3 == 0,
            (i // 2 + j // 3) % 2 == 0,
            (i * j) % 2 + (i * j) % 3 == 0,
            ((i * j) % 2 + (i * j) % 3) % 2 == 0,
            ((i * j) % 3 + (i + j) % 2) % 2 == 0,
        ]
    )


@functools.cache
def _format_cells(n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where bit i of the 15 format bits goes: the copy along column 8 and along row 8."""
    vertical = [(i, 8) if i < 6 else (i + 1, 8) if i < 8 else (n - 15 + i, 8) for i in range(15)]
    horizontal = [
        (8, n - i - 1) if i < 8 else (8, 15 - i) if i < 9 else (8, 14 - i) for i in range(15)
    ]
    return vertical, horizontal


@functools.cache
def _format_bits(mask: int) -> tuple[bool, ...]:
    from qrcode import util

    bits = util.BCH_type_info((EC_M_BITS << 3) | mask)
    return tuple(bool((bits >> i) & 1) for i in range(15))


def _with_format(m: npt.NDArray[np.bool_], mask: int) -> None:
    n = m.shape[-1]
    vertical, horizontal = _format_cells(n)
    for bit, (a, b) in zip(_format_bits(mask), zip(vertical, horizontal, strict=True), strict=True):
        m[a] = m[b] = bit
    m[n - 8, 8] = True  # the dark module


FINDER_LIKE = (
    np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], dtype=bool),
    np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1], dtype=bool),
)


def _penalties(s: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """ISO/IEC 18004 mask penalty of each symbol in ``s`` (shape masks x n x n)."""
    n = s.shape[-1]
    total = np.zeros(s.shape[0], dtype=np.int64)
    for t in (s, s.transpose(0, 2, 1)):  # rows, then columns
        eq = t[:, :, 1:] == t[:, :, :-1]
        five = eq[:, :, :-3] & eq[:, :, 1:-2] & eq[:, :, 2:-1] & eq[:, :, 3:]
        starts = five.copy()
        starts[:, :, 1:] &= ~eq[:, :, : n - 5]
        total += five.sum(axis=(1, 2)) + 2 * starts.sum(axis=(1, 2))  # N1: 3 + (run - 5)
        for pattern in FINDER_LIKE:  # N3: 1:1:3:1:1 with four light modules on a side
            hit = np.ones((*t.shape[:2], n - 10), dtype=bool)
            for k, bit in enumerate(pattern):
                hit &= t[:, :, k : n - 10 + k] == bit
            total += 40 * hit.sum(axis=(1, 2))
    a = s[:, :-1, :-1]
    block = (a == s[:, 1:, :-1]) & (a == s[:, :-1, 1:]) & (a == s[:, 1:, 1:])
    total += 3 * block.sum(axis=(1, 2))  # N2
    dark_pct = s.sum(axis=(1, 2)) * 100.0 / (n * n)
    total += (np.abs(dark_pct - 50) // 5).astype(np.int64) * 10  # N4
    return total


@functools.cache
def _placement(n: int, version: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows and columns of the data modules in the order the codeword bits fill them: two
    columns at a time from the right, upwards then downwards, skipping the timing column."""
    f = _function_modules(n, version)
    rows: list[int] = []
    cols: list[int] = []
    col, upward = n - 1, True
    while col > 0:
        if col == 6:
            col -= 1
        for r in range(n - 1, -1, -1) if upward else range(n):
            for c in (col, col - 1):
                if not f[r, c]:
                    rows.append(r)
                    cols.append(c)
        upward = not upward
        col -= 2
    return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)


_TEMPLATES: dict[int, npt.NDArray[np.bool_]] = {}


def _template(version: int, code) -> npt.NDArray[np.bool_]:  # type: ignore[no-untyped-def]
    """The function patterns of ``version`` (the same in every symbol), taken once from a
    symbol ``qrcode`` lays out."""
    t = _TEMPLATES.get(version)
    if t is None:
        code.makeImpl(False, 0)
        m = np.array(code.modules, dtype=bool)
        t = _TEMPLATES[version] = m & _function_modules(m.shape[0], version)
    return t


ALNUM_INDEX = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")}


@functools.cache
def _gf_tables() -> tuple[list[int], list[int]]:
    """GF(256) exponentials and logarithms for the QR polynomial x^8 + x^4 + x^3 + x^2 + 1."""
    exp, log = [0] * 512, [0] * 256
    x = 1
    for i in range(255):
        exp[i], log[x] = x, i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


@functools.cache
def _rs_feedback(ec_count: int) -> tuple[tuple[int, ...], ...]:
    """For each feedback byte, its product with the generator polynomial (without the leading
    1) of degree ``ec_count``: the Reed-Solomon division becomes one table row a byte."""
    exp, log = _gf_tables()
    g = [1]
    for i in range(ec_count):  # multiply by (x - a^i)
        g = [
            (g[j] if j < len(g) else 0) ^ (exp[log[g[j - 1]] + i] if j and g[j - 1] else 0)
            for j in range(len(g) + 1)
        ]
    tail = g[1:]
    return tuple(tuple(exp[log[f] + log[c]] if f and c else 0 for c in tail) for f in range(256))


def _rs_ec(data: list[int], ec_count: int) -> list[int]:
    rows = _rs_feedback(ec_count)
    rem = [0] * ec_count
    for byte in data:
        row = rows[byte ^ rem[0]]
        rem = [a ^ b for a, b in zip([*rem[1:], 0], row, strict=True)]
    return rem


def _alnum_codewords(payload: str, version: int) -> list[int]:
    """Data and error-correction codewords, interleaved, of an alphanumeric payload (v1-9, M)."""
    from qrcode.base import rs_blocks
    from qrcode.constants import ERROR_CORRECT_M

    values = [ALNUM_INDEX[c] for c in payload]
    bits = ["0010", format(len(values), "09b")]
    for i in range(0, len(values) - 1, 2):
        bits.append(format(values[i] * 45 + values[i + 1], "011b"))
    if len(values) % 2:
        bits.append(format(values[-1], "06b"))
    blocks = rs_blocks(version, ERROR_CORRECT_M)
    capacity = sum(b.data_count for b in blocks) * 8
    stream = "".join(bits)
    stream += "0" * min(4, capacity - len(stream))
    stream += "0" * (-len(stream) % 8)
    data = [int(stream[i : i + 8], 2) for i in range(0, len(stream), 8)]
    data += [0xEC, 0x11] * ((capacity // 8 - len(data)) // 2 + 1)
    data = data[: capacity // 8]
    data_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    at = 0
    for b in blocks:
        chunk = data[at : at + b.data_count]
        at += b.data_count
        data_blocks.append(chunk)
        ec_blocks.append(_rs_ec(chunk, b.total_count - b.data_count))
    out: list[int] = []
    for group in (data_blocks, ec_blocks):
        for i in range(max(len(g) for g in group)):
            out.extend(g[i] for g in group if i < len(g))
    return out


def candidates(payload: str) -> tuple[int, npt.NDArray[np.bool_]]:
    """The version and the eight masked symbols (masks x n x n) of ``payload``."""
    import qrcode
    from qrcode import util
    from qrcode.constants import ERROR_CORRECT_M

    version = version_for(payload)
    code = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_M, border=0)
    if version is None:  # not alphanumeric, or long: qrcode's own encoding
        code.add_data(payload)
        code.best_fit()
        version = code.version
        codewords = util.create_data(version, ERROR_CORRECT_M, code.data_list)
    else:
        codewords = _alnum_codewords(payload, version)
        if version not in _TEMPLATES:
            code.add_data(payload)
    template = _template(version, code)
    n = template.shape[0]
    rows, cols = _placement(n, version)
    bits = np.unpackbits(np.array(codewords, dtype=np.uint8))
    placed = np.zeros(rows.shape[0], dtype=bool)
    placed[: bits.shape[0]] = bits  # the remainder bits stay 0
    symbol = template.copy()
    symbol[rows, cols] = placed
    out = symbol[None, :, :] ^ (_masks(n) & ~_function_modules(n, version))
    for k in range(8):
        _with_format(out[k], k)
    return version, out


@functools.lru_cache(maxsize=4096)
def qr_matrix(payload: str) -> Matrix:
    _, symbols = candidates(payload)
    best = int(np.argmin(_penalties(symbols)))
    return tuple(tuple(bool(v) for v in row) for row in symbols[best].tolist())


def runs(row: Sequence[bool]) -> list[tuple[int, int]]:
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
