#!/usr/bin/env python3
"""Writes the gzip fixtures of the DEFLATE decoder's tests (Tests/ArrayCoreTests/GzipTests.swift).

Run from anywhere with Python 3 alone (its gzip and zlib modules, zlib inside):

    python3 Scripts/make_gzip_fixtures.py

The data are made from a xorshift32 generator the Swift test repeats (`InflateFixtureData`),
so the test compares each decompressed file with data it makes itself; keep the two in step.
It writes Tests/Fixtures/inflate/:
  skewed-9.gz      20,000 bytes of 15 letters with halving frequencies, level 9: a dynamic
                   block whose literal and distance codes reach 12 and 11 bits (longer than
                   the decoder's 10-bit primary table)
  fibonacci-huffman.gz  17 letters repeated 1, 2, 3, 5, 8, ..., 2584 times (Fibonacci numbers),
                   level 9 with Z_HUFFMAN_ONLY (no matches): with the end-of-block symbol
                   (once) their Huffman tree is 17 deep, so zlib limits the code to 15 bits,
                   the longest DEFLATE allows
  repeats-1.gz     runs and repeated patterns (distances 1, 3, 5, 12, 40 and over 23,000,
                   matches longer than their distance), levels 1, 6 and 9
  repeats-6.gz
  repeats-9.gz
  stored-0.gz      1,500 random bytes at level 0, flushed (Z_SYNC_FLUSH) after 700: stored
                   blocks, one of them empty
  flushes-6.gz     the first 3,000 bytes of `repeats`, then of `skewed`, at level 6, with a
                   Z_SYNC_FLUSH and a Z_FULL_FLUSH between (empty stored blocks mid-stream)
  tiny-6.gz        "abracadabra, abracadabra!" at level 6 (fixed Huffman codes)
"""
import gzip
import os
import zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "inflate")
os.makedirs(root, exist_ok=True)


class XorShift32:
    """Marsaglia's xorshift32 (shifts 13, 17, 5); never zero for a nonzero seed."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def bytes(self, n):
        return bytes(self.next() & 0xFF for _ in range(n))


def skewed():
    """20,000 letters: 'A' + the number of trailing zero bits of a xorshift32 draw (at most 14)."""
    g = XorShift32(2463534242)
    out = bytearray()
    for _ in range(20000):
        x = g.next()
        k = 0
        while k < 14 and x & (1 << k) == 0:
            k += 1
        out.append(65 + k)
    return bytes(out)


def repeats():
    """Runs and patterns repeated at several distances, and 2,000 random bytes seen again ~30 KB later."""
    g = XorShift32(88172645)
    out = bytearray(b"a" * 300)
    out += b"abc" * 100
    out += g.bytes(5) * 100
    out += g.bytes(12) * 50
    out += g.bytes(40) * 20
    far = g.bytes(2000)
    out += far
    for i in range(2400):
        out += b"line %d\n" % (i * 7 % 1000)
    out += far
    return bytes(out)


def fibonacci():
    """Letter i ('a' + i, i < 17) repeated Fibonacci(i + 2) times: 6,763 bytes."""
    out, a, b = bytearray(), 1, 2
    for i in range(17):
        out += bytes([97 + i]) * a
        a, b = b, a + b
    return bytes(out)


def member(parts, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    """A gzip member (zlib's own header, mtime 0) of `parts`, each part followed by its flush mode."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 9, strategy)
    out = b""
    for data, flush in parts:
        out += c.compress(data) + c.flush(flush)
    return out


def write(name, data):
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)


write("skewed-9.gz", gzip.compress(skewed(), compresslevel=9, mtime=0))
write("fibonacci-huffman.gz", member([(fibonacci(), zlib.Z_FINISH)], 9, zlib.Z_HUFFMAN_ONLY))
for level in (1, 6, 9):
    write("repeats-%d.gz" % level, gzip.compress(repeats(), compresslevel=level, mtime=0))
random = XorShift32(521288629).bytes(1500)
write("stored-0.gz", member([(random[:700], zlib.Z_SYNC_FLUSH), (random[700:], zlib.Z_FINISH)], 0))
write("flushes-6.gz", member([(repeats()[:3000], zlib.Z_SYNC_FLUSH), (skewed()[:3000], zlib.Z_FULL_FLUSH),
                              (b"", zlib.Z_FINISH)], 6))
write("tiny-6.gz", gzip.compress(b"abracadabra, abracadabra!", compresslevel=6, mtime=0))
print("wrote gzip fixtures to", os.path.normpath(root))
