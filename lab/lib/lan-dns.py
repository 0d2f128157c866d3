#!/usr/bin/env python3
"""Lab stand-in for the household router's DNS resolver (UDP port 53 on the router's LAN address).

The household's `laptop.lan.dns` names the LAN's resolvers; the phones reach them through the
laptop's NAT. The lab has no internet, so this answers A queries from a fixed table (the names a
test asks for) and NXDOMAIN for anything else, recursing nowhere. It logs one line per query to
stdout, so a test can tell which source address asked.

Usage: lan-dns.py ADDRESS NAME=IPV4...
"""
import socket
import struct
import sys


def parse_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels).lower(), offset
        if length & 0xC0:
            raise ValueError("compressed names do not occur in questions")
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length


def answer(packet: bytes, table: dict[str, bytes]) -> bytes:
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        return struct.pack("!HHHHHH", ident, 0x8000 | 0x0001, 0, 0, 0, 0)  # FORMERR
    name, end = parse_name(packet, 12)
    qtype, qclass = struct.unpack("!HH", packet[end:end + 4])
    question = packet[12:end + 4]
    rd = flags & 0x0100
    address = table.get(name)
    if address is None:
        # NXDOMAIN, authoritative for nothing, recursion "available" as a home router claims.
        return struct.pack("!HHHHHH", ident, 0x8180 | rd | 0x0003, 1, 0, 0, 0) + question
    if qtype != 1 or qclass != 1:
        return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 0, 0, 0) + question
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + address
    return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 1, 0, 0) + question + record


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    table = {}
    for entry in sys.argv[2:]:
        name, _, ip = entry.partition("=")
        table[name.lower().rstrip(".")] = socket.inet_aton(ip)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], 53))
    print(f"lan-dns: answering on {sys.argv[1]}:53 for {', '.join(sorted(table)) or 'no names'}", flush=True)
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            reply = answer(packet, table)
            name, _ = parse_name(packet, 12)
        except (ValueError, IndexError, struct.error):
            continue
        print(f"query from {peer[0]}: {name}", flush=True)
        sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
