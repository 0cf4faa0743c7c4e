#!/usr/bin/env python3
"""Independent re-implementation of the protocol's draw (protocol.md section 4) for cross-checking
the Rust known-answer vectors: ChaCha12 as rand_chacha 0.3's ChaCha12Rng (djb layout, 64-bit
block counter from 0, stream 0; next_u64 = low word then high word), `uniform` by rejection and
the explicit partial Fisher-Yates. Pure standard library; run with python3.
"""
import hashlib
import json
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
    DOUBLE_ROUNDS = 6

    def __init__(self, seed: bytes):
        assert len(seed) == 32
        self.key = list(struct.unpack("<8I", seed))
        self.counter = 0
        self.buf = []

    def _block(self):
        init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574] + self.key + [
            self.counter & MASK, self.counter >> 32, 0, 0]
        s = list(init)
        for _ in range(self.DOUBLE_ROUNDS):
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


VECTORS = [
    # (seed byte repeated 32 times, reward-set entries, draw count)
    (0x00, 10, 3),
    (0x01, 80, 20),
    (0xAB, 25, 20),
    (0x00, 5, 20),
    (0x5C, 4000, 20),
]
TIE_SEEDS = [0x00, 0x03, 0x06]


class ChaCha20(ChaCha12):
    DOUBLE_ROUNDS = 10


def self_check():
    """The same core with 20 rounds must give the published ChaCha20 keystream for an all-zero
    key and nonce (first 16 bytes: 76b8e0ad a0f13d90 405d6ae5 5386bd28)."""
    r = ChaCha20(bytes(32))
    got = struct.pack("<4I", *[r.next_u32() for _ in range(4)]).hex()
    assert got == "76b8e0ada0f13d90405d6ae55386bd28", got


def main():
    """Prints the vectors as JSON; the Rust test suite compares them with its own results."""
    self_check()
    out = {
        "first_u64s_zero_seed": [str(x) for x in (lambda r: [r.next_u64() for _ in range(3)])(ChaCha12(bytes(32)))],
        "draws": [],
        "tie_groups": [],
    }
    for seed, n, k in VECTORS:
        chosen, remaining = draw(bytes([seed]) * 32, n, k)
        out["draws"].append({"seed": seed, "entries": n, "count": k, "chosen": chosen, "remaining": remaining})
    for seed in TIE_SEEDS:
        group = ["a", "b", "c"]  # already in txid order
        partial_fisher_yates(group, 3, ChaCha12(bytes([seed]) * 32))
        out["tie_groups"].append({"seed": seed, "order": group})
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
