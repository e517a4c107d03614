"""Compact text encodings of integer codes for map payloads: fixed-width base-94 and varints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

#: 90 printable ASCII characters that need no escaping in JSON, HTML or ``<script>``
VALUE_ALPHABET = "".join(chr(c) for c in range(32, 127) if chr(c) not in '"\\<>&')

#: 64 characters (base64url) for the varint arc encoding; none needs escaping in JSON/HTML
ARC_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ARC_LOOKUP = {c: i for i, c in enumerate(ARC_ALPHABET)}



_ALPHA = np.frombuffer(VALUE_ALPHABET.encode("ascii"), dtype=np.uint8)


_BASE = len(VALUE_ALPHABET)


def encode_fixed(codes: NDArray[np.int64], width: int) -> str:
    """Non-negative integers as ``width`` base-90 characters each (:data:`VALUE_ALPHABET`)."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= _BASE**width):
        msg = f"codes out of range for width {width}"
        raise ValueError(msg)
    digits = np.empty((codes.size, width), dtype=np.uint8)
    rest = codes.copy()
    for j in range(width - 1, -1, -1):
        digits[:, j] = _ALPHA[rest % _BASE]
        rest //= _BASE
    return digits.tobytes().decode("ascii")


def decode_fixed(text: str, width: int) -> list[int]:
    """Inverse of :func:`encode_fixed` (tests; the browser decodes in ``map.js``)."""
    lookup = {c: i for i, c in enumerate(VALUE_ALPHABET)}
    out = []
    for i in range(0, len(text), width):
        v = 0
        for c in text[i:i + width]:
            v = v * _BASE + lookup[c]
        out.append(v)
    return out


def _width(max_code: int) -> int:
    width = 1
    while _BASE**width <= max_code:
        width += 1
    return width


def encode_rows(codes: NDArray[np.int64], widths: NDArray[np.int64]) -> list[str]:
    """Row ``i`` of a non-negative code matrix as ``widths[i]`` base-90 characters per code."""
    out = [""] * len(codes)
    for width in np.unique(widths):
        rows = np.flatnonzero(widths == width)
        rest = codes[rows].copy()
        digits = np.empty((*rest.shape, int(width)), dtype=np.uint8)
        for j in range(int(width) - 1, -1, -1):
            digits[..., j] = _ALPHA[rest % _BASE]
            rest //= _BASE
        for k, r in enumerate(rows):
            out[r] = digits[k].tobytes().decode("ascii")
    return out


def widths_for(max_codes: NDArray[np.int64]) -> NDArray[np.int64]:
    """Characters needed per code for each maximum code."""
    return np.array([_width(int(m)) for m in max_codes], dtype=np.int64)


def encode_varints(values: Sequence[int] | NDArray[np.int64]) -> str:
    """Zigzag + 5-bit varint encoding of integers in :data:`ARC_ALPHABET` characters."""
    chars: list[str] = []
    alphabet = ARC_ALPHABET
    for v in values:
        z = (int(v) << 1) ^ (int(v) >> 63)
        while z >= 32:
            chars.append(alphabet[(z & 31) | 32])
            z >>= 5
        chars.append(alphabet[z])
    return "".join(chars)


def decode_varints(text: str) -> list[int]:
    """Inverse of :func:`encode_varints` (used by tests; the browser has its own decoder)."""
    out: list[int] = []
    shift = result = 0
    for c in text:
        d = _ARC_LOOKUP[c]
        result |= (d & 31) << shift
        if d & 32:
            shift += 5
            continue
        out.append((result >> 1) ^ -(result & 1))
        shift = result = 0
    return out
