"""Reading /proc/net/tcp*: the connections to the database port, told from PostgreSQL's own
side of the same connections and from every other socket."""

import os
import socket

from harness.measure import sampler, sockdiag

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1538 0100007F:D431 01 00000000:00000000 00:00000000 00000000   104        0 2222 1 0000000000000000 20 4 0 10 -1
   2: 0100007F:D431 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:A237 0100007F:C108 06 00000000:00000000 03:000004D2 00000000     0        0 0 3 0000000000000000
   4: 0100007F:9C40 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 20 4 30 10 -1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:E000 0000000000000000FFFF00000100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 20 4 30 10 -1
"""


def test_only_client_sides_of_connections_to_the_port_are_ports():
    # 0x1538 = 5432; 0xD431 = 54321, 0x9C40 = 40000, 0xE000 = 57344
    assert sampler.sockets(TCP, 5432) == {"1111": None, "2222": None, "3333": 54321, "0": None,
                                          "4444": 40000}
    assert sampler.sockets(TCP6, 5432) == {"5555": 57344}


def test_another_port_or_an_empty_table_reads_no_connection():
    assert set(sampler.sockets(TCP, 5433).values()) == {None}
    assert sampler.sockets("", 5432) == {}
    # a port whose hex is a prefix of another's is not matched by it
    assert set(sampler.sockets(TCP, 0x153).values()) == {None}


def test_unix_sockets_are_listed_by_their_inode():
    unix = ("Num       RefCount Protocol Flags    Type St Inode Path\n"
            "00000000e3962d7d: 00000003 00000000 00000000 0001 03  1590\n"
            "000000008175c92b: 00000002 00000000 00010000 0001 01 20734 /run/x.sock\n")
    assert sampler._UNIX_INODE.findall(unix) == ["1590", "20734"]


def _inode(sock: socket.socket) -> str:
    return str(os.fstat(sock.fileno()).st_ino)


def test_sock_diag_lists_a_real_connection_as_the_proc_table_does():
    # Real sockets of this process: a listener, a client connected to it, the accepted side.
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client.connect(("127.0.0.1", port))
        accepted, _ = server.accept()
        with accepted:
            listed = sockdiag.tcp_sockets(port)
            from_proc = {}
            for table in ("tcp", "tcp6"):
                with open(f"/proc/self/net/{table}") as f:
                    from_proc.update(sampler.sockets(f.read(), port))
            assert listed[_inode(client)] == client.getsockname()[1]
            assert listed[_inode(server)] is None and listed[_inode(accepted)] is None
            # the same answer as /proc/net/tcp (other processes' sockets may come and go
            # between the two readings)
            for sock in (client, server, accepted):
                assert listed[_inode(sock)] == from_proc[_inode(sock)]
