"""Just enough PNG decoding (8-bit RGB or RGBA, not interlaced: what Chromium's screenshots are) to count
pixels, so that the browser test needs no imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

CHANNELS = {2: 3, 6: 4}  # PNG colour type -> samples per pixel


def read_rgb(path: Path):
    """The image as a numpy array of shape (height, width, 3), uint8."""
    import numpy as np

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks += [body] if kind == b"IDAT" else []
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in CHANNELS and not interlace, f"{path}: unsupported PNG {depth}/{colour}"
    step = CHANNELS[colour]
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, width * step + 1)
    image = np.zeros((height, width * step), dtype=np.uint8)
    previous = np.zeros(width * step, dtype=np.uint8)
    for y in range(height):
        previous = image[y] = unfilter(int(raw[y, 0]), raw[y, 1:], previous, step)
    return image.reshape(height, width, step)[:, :, :3]


def unfilter(kind: int, line, up, step: int):
    """One line's bytes before PNG's filter `kind` (0 none, 1 sub, 2 up, 3 average, 4 paeth)."""
    import numpy as np

    if kind == 0:
        return line
    if kind == 2:
        return line + up  # uint8 arithmetic wraps, as the filter's modulo 256
    if kind == 1:
        return np.cumsum(line.reshape(-1, step), axis=0, dtype=np.uint8).reshape(-1)
    out, up = bytearray(line.tobytes()), up.tobytes()
    for i in range(len(out)):
        left, upper_left = (out[i - step], up[i - step]) if i >= step else (0, 0)
        guess = (left + up[i]) // 2 if kind == 3 else paeth(left, up[i], upper_left)
        out[i] = (out[i] + guess) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def coloured_pixels(image, colour: str, tol: int = 40) -> int:
    """How many pixels of `image` (read_rgb's array, or a slice of it) are within `tol` of `colour`
    ("#rrggbb") in every channel."""
    import numpy as np

    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - target) <= tol).all(axis=2).sum())
