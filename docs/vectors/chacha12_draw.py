#!/usr/bin/env python3
"""Independent re-implementation of the protocol's draw (protocol.md section 4) for cross-checking
the Rust known-answer vectors: ChaCha12 as rand_chacha 0.3's ChaCha12Rng (djb layout, 64-bit
block counter from 0, stream 0; next_u64 = low word then high word), `uniform` by rejection and
the explicit partial Fisher-Yates. Pure standard library; run with python3.
"""
import hashlib
import struct
import sys

MASK = 0xFFFFFFFF


def _rotl(v, c):
    return ((v << c) & MASK) | (v >> (32 - c))


def _qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 7)


class ChaCha12:
    def __init__(self, seed: bytes):
        assert len(seed) == 32
        self.key = list(struct.unpack("<8I", seed))
        self.counter = 0
        self.buf = []

    def _block(self):
        init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574] + self.key + [
            self.counter & MASK, self.counter >> 32, 0, 0]
        s = list(init)
        for _ in range(6):
            _qr(s, 0, 4, 8, 12); _qr(s, 1, 5, 9, 13); _qr(s, 2, 6, 10, 14); _qr(s, 3, 7, 11, 15)
            _qr(s, 0, 5, 10, 15); _qr(s, 1, 6, 11, 12); _qr(s, 2, 7, 8, 13); _qr(s, 3, 4, 9, 14)
        self.counter += 1
        return [(x + y) & MASK for x, y in zip(s, init)]

    def next_u32(self):
        if not self.buf:
            self.buf = self._block()
        return self.buf.pop(0)

    def next_u64(self):
        lo = self.next_u32()
        hi = self.next_u32()
        return (hi << 32) | lo


U64_MAX = (1 << 64) - 1


def uniform(rng, n):
    zone = U64_MAX - (U64_MAX % n)
    while True:
        v = rng.next_u64()
        if v < zone:
            return v % n


def partial_fisher_yates(items, k, rng):
    for i in range(min(k, len(items))):
        j = i + uniform(rng, len(items) - i)
        items[i], items[j] = items[j], items[i]


def draw(seed, n, k):
    rng = ChaCha12(seed)
    idx = list(range(n))
    partial_fisher_yates(idx, k, rng)
    chosen = idx[:min(k, n)]
    return chosen, [i for i in range(n) if i not in set(chosen)]


def payout_seed(sortition_hash, burn_header_hash):
    return hashlib.sha256(sortition_hash + burn_header_hash).digest()


if __name__ == "__main__":
    # The vectors docs/protocol.md lists and the Rust tests assert.
    print("first u64s, seed 00*32:", [hex(x) for x in (lambda r: [r.next_u64() for _ in range(3)])(ChaCha12(bytes(32)))])
    for seed_hex, n, k in [("00" * 32, 10, 3), ("01" * 32, 80, 20), ("ab" * 32, 25, 20), ("00" * 32, 5, 20)]:
        chosen, remaining = draw(bytes.fromhex(seed_hex), n, k)
        print(f"draw seed={seed_hex[:4]}.. n={n} k={k}: chosen={chosen} remaining={remaining}")
    for seed_byte in (0, 1):
        group = ["c", "b", "a"]
        group.sort()  # by txid: a < b < c
        partial_fisher_yates(group, 3, ChaCha12(bytes([seed_byte]) * 32))
        print(f"tie group seed={seed_byte:02x}*32: {group}")
    sys.exit(0)
