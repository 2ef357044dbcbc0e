#!/usr/bin/env python3
"""Draws MCP Companion's icons as RGBA PNGs with the standard library only.

The mark is two linked rings (a client and a server, joined) on a dark disc; tray variants add
a status dot: green (all good), amber (attention), red (error). Run it from this directory to
regenerate every PNG here.
"""
import math
import struct
import zlib

BG = (36, 41, 61)
RING = (236, 239, 247)
STATUS = {"ok": (46, 184, 114), "attention": (240, 173, 40), "error": (222, 64, 64)}


def png(path, size, pixels):
    raw = b"".join(b"\x00" + bytes(pixels[y * size * 4:(y + 1) * size * 4]) for y in range(size))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def shade(u, v, status):
    """Colour (r, g, b, a) at unit coordinates (0..1)."""
    x, y = u - 0.5, v - 0.5
    layers = []
    if math.hypot(x, y) <= 0.47:
        layers.append(BG)
    for cx in (-0.1, 0.1):
        d = math.hypot(x - cx, y)
        if abs(d - 0.19) <= 0.045:
            layers.append(RING)
    if status:
        sx, sy = 0.3, 0.3
        d = math.hypot(x - sx, y - sy)
        if d <= 0.2:
            layers.append(BG if d > 0.16 else STATUS[status])
    return layers[-1] + (255,) if layers else (0, 0, 0, 0)


def draw(size, status=None, samples=4):
    px = []
    for j in range(size):
        for i in range(size):
            acc = [0, 0, 0, 0]
            for sj in range(samples):
                for si in range(samples):
                    r, g, b, a = shade((i + (si + 0.5) / samples) / size,
                                       (j + (sj + 0.5) / samples) / size, status)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = samples * samples
            alpha = acc[3] / n
            if alpha == 0:
                px += [0, 0, 0, 0]
            else:
                px += [round(acc[0] / acc[3]), round(acc[1] / acc[3]), round(acc[2] / acc[3]),
                       round(alpha)]
    return px


if __name__ == "__main__":
    for name, size in (("32x32.png", 32), ("128x128.png", 128), ("icon.png", 256)):
        png(name, size, draw(size))
    for status in STATUS:
        png(f"tray-{status}.png", 64, draw(64, status))
