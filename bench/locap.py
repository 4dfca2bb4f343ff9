"""locap: a minimal tcpdump for the loopback of a bench namespace (no
tcpdump on the machine). AF_PACKET on lo, kernel timestamps (SO_TIMESTAMPNS).

  locap.py [-f] SECONDS [PORT ...]  > trace.txt   (-f: whole payloads)

One line per IPv4 TCP/UDP packet touching one of the PORTs (all if none):
  <CLOCK_REALTIME> <proto> <sport>><dport> <flags> seq=<rel> ack=<rel> len=<n> <payload head>
Loopback packets are seen once (outgoing). With bench/hops.py: where a
call setup's time goes, hop by hop (issue 13).
"""
import socket
import struct
import sys
import time

ETH_P_ALL = 3
SO_TIMESTAMPNS = 35


def main():
    full = "-f" in sys.argv
    argv = [a for a in sys.argv if a != "-f"]
    dur = float(argv[1])
    ports = {int(p) for p in argv[2:]}
    hl_tcp, hl_udp = (65536, 65536) if full else (110, 72)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("lo", 0))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    s.settimeout(0.2)
    end = time.time() + dur
    base = {}
    out = sys.stdout
    while time.time() < end:
        try:
            data, anc, _, addr = s.recvmsg(65536, 64)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            pass
        elif addr[2] == socket.PACKET_HOST:
            continue  # loopback: each packet appears twice; keep one
        ts = None
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, ns = struct.unpack("qq", d[:16])
                ts = sec + ns / 1e9
        if ts is None:
            ts = time.time()
        if len(data) < 34 or data[12:14] != b"\x08\x00":
            continue
        ip = data[14:]
        ihl = (ip[0] & 15) * 4
        proto = ip[9]
        l4 = ip[ihl:]
        if proto == 6:
            sp, dp, seq, ack, off = struct.unpack("!HHIIB", l4[:13])
            fl = l4[13]
            hl = (off >> 4) * 4
            tot = struct.unpack("!H", ip[2:4])[0]
            payload = ip[ihl + hl:tot]
            if ports and sp not in ports and dp not in ports:
                continue
            k = (sp, dp)
            if k not in base:
                base[k] = seq
            kr = (dp, sp)
            f = "".join(c for c, b in (("S", 2), ("F", 1), ("R", 4), ("P", 8), (".", 16))
                        if fl & b)
            rs = (seq - base[k]) & 0xffffffff
            ra = (ack - base[kr]) & 0xffffffff if kr in base else ack
            head = payload[:hl_tcp].decode("utf-8", "replace").replace("\n", " ").replace("\r", "")
            out.write("%.6f tcp %d>%d %s seq=%d ack=%d len=%d %s\n"
                      % (ts, sp, dp, f, rs, ra, len(payload), head))
        elif proto == 17:
            sp, dp, ln = struct.unpack("!HHH", l4[:6])
            if ports and sp not in ports and dp not in ports:
                continue
            head = l4[8:8 + hl_udp].decode("utf-8", "replace").replace("\r\n", " | ")
            out.write("%.6f udp %d>%d len=%d %s\n" % (ts, sp, dp, ln - 8, head))
    out.flush()


if __name__ == "__main__":
    main()
