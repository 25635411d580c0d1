#!/usr/bin/env python3
"""Generate oxbios's fonts: the 8x16 text-mode font and the 8x14 and 8x8
fonts that INT 10h AX=1130h hands out and the graphics modes draw with.

Sources (Debian package xfonts-base):
- the X11 "misc-fixed" 8x13 font (/usr/share/fonts/X11/misc/8x13.pcf.gz),
  whose licence is "Public domain font. Share and enjoy."
  (font-misc-misc/COPYING). In the 16- and 14-line cells each glyph gets
  one blank line above (and two below in 16); box-drawing and block
  characters, which must join their neighbours, are stretched to the full
  cell instead.
- for the printable ASCII characters of the 8x8 font, Schumacher Clean
  8x8 (clR8x8.pcf.gz): "Copyright 1989 Dale Schumacher ... Permission to
  use, copy, modify, and distribute this software and its documentation
  for any purpose and without fee is hereby granted, provided that the
  above copyright notice appear in all copies and that both that copyright
  notice and this permission notice appear in supporting documentation,
  and that the name of Dale Schumacher not be used in advertising or
  publicity pertaining to distribution of the software without specific,
  written prior permission. Dale Schumacher makes no representations about
  the suitability of this software for any purpose. It is provided "as is"
  without express or implied warranty." The other characters of the 8x8
  font are the 8x13 glyphs squeezed to 8 lines (each line the OR of the
  source lines it covers, so no stroke disappears).
Characters are picked by code page 437.

Usage: python3 bios/tools/make_font.py 16 > bios/oxbios/font8x16.inc
       python3 bios/tools/make_font.py 14 > bios/oxbios/font8x14.inc
       python3 bios/tools/make_font.py 8 > bios/oxbios/font8x8.inc
"""

import gzip
import struct
import sys

SOURCE = "/usr/share/fonts/X11/misc/8x13.pcf.gz"
SOURCE_8X8 = "/usr/share/fonts/X11/misc/clR8x8.pcf.gz"

PCF_METRICS = 1 << 2
PCF_BITMAPS = 1 << 3
PCF_BDF_ENCODINGS = 1 << 5
PCF_BYTE_MSB = 1 << 2
PCF_BIT_MSB = 1 << 3
PCF_COMPRESSED_METRICS = 0x100

# Code page 437's graphic characters for the control codes 01h-1Fh and 7Fh.
CP437_LOW = "\u0000☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"


def cp437(code):
    if code < 0x20:
        return ord(CP437_LOW[code]) if code else None
    if code == 0x7F:
        return ord("⌂")
    return ord(bytes([code]).decode("cp437"))


def tables(data):
    assert data[:4] == b"\x01fcp", "not a PCF file"
    (count,) = struct.unpack_from("<i", data, 4)
    out = {}
    for i in range(count):
        t, fmt, size, off = struct.unpack_from("<iiii", data, 8 + 16 * i)
        out[t] = (fmt, off)
    return out


def reader(data, off):
    (fmt,) = struct.unpack_from("<i", data, off)
    end = ">" if fmt & PCF_BYTE_MSB else "<"
    return fmt, end


def load(path):
    data = gzip.open(path).read()
    t = tables(data)
    # Metrics.
    off = t[PCF_METRICS][1]
    fmt, e = reader(data, off)
    metrics = []
    if fmt & PCF_COMPRESSED_METRICS:
        (n,) = struct.unpack_from(e + "h", data, off + 4)
        for i in range(n):
            lb, rb, w, asc, desc = (b - 0x80 for b in data[off + 6 + 5 * i: off + 11 + 5 * i])
            metrics.append((lb, rb, w, asc, desc))
    else:
        (n,) = struct.unpack_from(e + "i", data, off + 4)
        for i in range(n):
            lb, rb, w, asc, desc, _ = struct.unpack_from(e + "hhhhhH", data, off + 8 + 12 * i)
            metrics.append((lb, rb, w, asc, desc))
    # Bitmaps.
    off = t[PCF_BITMAPS][1]
    fmt, e = reader(data, off)
    (n,) = struct.unpack_from(e + "i", data, off + 4)
    offsets = struct.unpack_from(e + "%di" % n, data, off + 8)
    base = off + 8 + 4 * n + 16
    pad = 1 << (fmt & 3)
    msbit = bool(fmt & PCF_BIT_MSB)
    # Encodings.
    off = t[PCF_BDF_ENCODINGS][1]
    _, e = reader(data, off)
    min2, max2, min1, max1, _default = struct.unpack_from(e + "hhhhh", data, off + 4)
    cols = max2 - min2 + 1
    nidx = cols * (max1 - min1 + 1)
    index = struct.unpack_from(e + "%dH" % nidx, data, off + 14)
    font_ascent = max(m[3] for m in metrics)

    def glyph(code):
        b1, b2 = code >> 8, code & 0xFF
        if not (min1 <= b1 <= max1 and min2 <= b2 <= max2):
            return None
        gi = index[(b1 - min1) * cols + (b2 - min2)]
        if gi == 0xFFFF:
            return None
        lb, rb, w, asc, desc = metrics[gi]
        stride = (((rb - lb) + 7) // 8 + pad - 1) // pad * pad
        rows = [0] * 13
        for r in range(asc + desc):
            y = font_ascent - asc + r
            for x in range(rb - lb):
                byte = data[base + offsets[gi] + r * stride + x // 8]
                bit = (byte >> (7 - x % 8)) & 1 if msbit else (byte >> (x % 8)) & 1
                px = x + lb
                if bit and 0 <= y < 13 and 0 <= px < 8:
                    rows[y] |= 0x80 >> px
        return rows

    return glyph


def is_box(code):
    u = cp437(code)
    return u is not None and 0x2500 <= u <= 0x259F


def cell(code, rows, height):
    """The `height`-line cell of an 8x13 glyph."""
    if rows is None:
        return [0] * height
    if is_box(code):
        return [rows[r * 13 // height] for r in range(height)]
    return ([0] + rows + [0, 0])[:height]


def squeeze(rows):
    """An 8x13 glyph in 8 lines: each line ORs the source lines it covers."""
    if rows is None:
        return [0] * 8
    out = []
    for r in range(8):
        line = 0
        for s in range(r * 13 // 8, max((r + 1) * 13 // 8, r * 13 // 8 + 1)):
            line |= rows[s]
        out.append(line)
    return out


def main():
    height = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    assert height in (8, 14, 16), "height: 8, 14 or 16"
    glyph = load(SOURCE)
    clean = load(SOURCE_8X8) if height == 8 else None
    out = sys.stdout
    out.write("; oxbios: the 8x%d font, generated by bios/tools/make_font.py (sources\n" % height)
    out.write("; and licences there). Do not edit.\n")
    out.write("font8x%d:\n" % height)
    for code in range(256):
        u = cp437(code)
        rows = glyph(u) if u is not None else None
        if height == 8:
            own = clean(u) if u is not None and 0x20 <= code < 0x7F else None
            lines = own[:8] if own is not None else squeeze(rows)
        else:
            lines = cell(code, rows, height)
        out.write("    db " + ", ".join("0x%02X" % b for b in lines) + "  ; %02Xh\n" % code)


if __name__ == "__main__":
    main()
