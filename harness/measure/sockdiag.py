"""The host's TCP sockets from the kernel's sock_diag netlink interface (what `ss` reads).

/proc/net/tcp lists every socket, and after a cell against a server that closes its connections
(gunicorn's sync workers) it holds tens of thousands of wrk's sockets in TIME_WAIT: reading and
parsing it took 35-50 ms, once per cell and more during the load, on the CPUs the apps are
measured on. A sock_diag dump can leave out TIME_WAIT (those sockets have no inode, no process
holds them): the same answer from a few dozen sockets in well under a millisecond.
"""

from __future__ import annotations

import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_TIME_WAIT = 6
ALL_BUT_TIME_WAIT = 0xFFF & ~(1 << TCP_TIME_WAIT)

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states; then an inet_diag_sockid (48 bytes) left
# zero: no filter on addresses or ports.
_REQUEST = struct.Struct("=BBBBI48x")
# inet_diag_msg: family, state, timer, retrans; sockid: sport, dport (big-endian), src, dst,
# interface, cookie; then expires, rqueue, wqueue, uid, inode.
_MESSAGE = struct.Struct("=BBBB2H16s16sI8sIIIII")


class Unavailable(OSError):
    """No sock_diag here (a kernel without it, or a sandbox that forbids netlink)."""


def tcp_sockets(db_port: int) -> dict[str, int | None]:
    """{inode: local port of a connection to `db_port`, or None} for every TCP socket of this
    network namespace not in TIME_WAIT, IPv4 and IPv6: what sampler.sockets gives from
    /proc/net/tcp and tcp6."""
    found: dict[str, int | None] = {}
    for family in (socket.AF_INET, socket.AF_INET6):
        for sport, dport, inode in _dump(family):
            found[str(inode)] = sport if dport == db_port else None
    return found


def _dump(family: int) -> list[tuple[int, int, int]]:
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as exc:
        raise Unavailable(str(exc)) from None
    with s:
        body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_BUT_TIME_WAIT)
        s.send(_HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                            NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        out: list[tuple[int, int, int]] = []
        while True:
            data = s.recv(1 << 16)
            if not data:
                raise Unavailable("sock_diag: the dump ended without NLMSG_DONE")
            at = 0
            while at + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, at)[:2]
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR or length < _HEADER.size:
                    raise Unavailable("sock_diag refused the dump")
                if length >= _HEADER.size + _MESSAGE.size:
                    fields = _MESSAGE.unpack_from(data, at + _HEADER.size)
                    sport, dport, inode = fields[4], fields[5], fields[-1]
                    out.append((socket.ntohs(sport), socket.ntohs(dport), inode))
                at += (length + 3) & ~3
