"""hops: per call, where the time goes, from a `locap.py -f` trace of a
loadc call run (sids TAG-N) on the bench ports (client c2s 5222,
component 5347, gateway SIP 5600, UAS 5070).

  hops.py trace.txt TAG

Prints, per hop, p50/p90/max in ms over the calls found:
  c>P     client writes session-initiate -> Prosody writes it to a component
  P>gwres ... -> the gateway writes the session-initiate's IQ result
  P>INV   ... -> the gateway sends the INVITE
  INV>200 INVITE -> the UAS's 200
  200>acc the 200 -> the gateway writes session-accept to Prosody
  acc>c   the gateway's session-accept -> Prosody writes it to the client
  total   client session-initiate -> Prosody writes session-accept to the client
"""
import re
import sys


def main():
    path, tag = sys.argv[1], sys.argv[2]
    ev = {}
    for line in open(path, errors="replace"):
        parts = line.split(" ", 6)
        if len(parts) < 4:
            continue
        t = float(parts[0])
        proto, ports = parts[1], parts[2]
        sp, dp = (int(x) for x in ports.split(">"))
        if proto == "tcp":
            # split the payload into stanzas to attribute each to its call
            pay = parts[6] if len(parts) > 6 else ""
            for st in re.split(r"(?=<iq |<message )", pay):
                m = re.search(r"%s-(\d+)" % re.escape(tag), st)
                if not m:
                    continue
                n = int(m.group(1))
                d = ev.setdefault(n, {})
                if dp == 5222 and "session-initiate" in st:
                    d.setdefault("c_init", t)
                elif sp == 5347 and "session-initiate" in st:
                    d.setdefault("P_init", t)
                elif dp == 5347 and "type=\"result\"" in st and "i%s-%d" % (tag, n) in st:
                    d.setdefault("gw_res", t)
                elif dp == 5347 and "session-info" in st:
                    d.setdefault("gw_info", t)
                elif dp == 5347 and "session-accept" in st:
                    d.setdefault("gw_acc", t)
                elif sp == 5222 and "session-accept" in st:
                    d.setdefault("c_acc", t)
                elif sp == 5222 and "i%s-%d" % (tag, n) in st and "result" in st:
                    d.setdefault("c_res", t)
        else:
            m = re.search(r"Call-ID: *%s-(\d+)" % re.escape(tag), line)
            if not m:
                continue
            d = ev.setdefault(int(m.group(1)), {})
            if "INVITE sip:" in line:
                d.setdefault("inv", t)
            elif "180 Ringing" in line:
                d.setdefault("r180", t)
            elif "200 OK" in line and "INVITE" in line.split("CSeq:")[-1][:20]:
                d.setdefault("r200", t)
    hops = [("c>P", "c_init", "P_init"), ("P>gwres", "P_init", "gw_res"),
            ("P>INV", "P_init", "inv"), ("INV>200", "inv", "r200"),
            ("200>info", "r200", "gw_info"), ("200>acc", "r200", "gw_acc"),
            ("gwres>c", "gw_res", "c_res"), ("acc>c", "gw_acc", "c_acc"),
            ("total", "c_init", "c_acc")]
    print("%-9s %5s %8s %8s %8s" % ("hop", "n", "p50", "p90", "max"))
    for name, a, b in hops:
        xs = sorted((d[b] - d[a]) * 1000 for d in ev.values() if a in d and b in d)
        if not xs:
            print("%-9s %5d" % (name, 0))
            continue
        q = lambda p: xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
        print("%-9s %5d %8.2f %8.2f %8.2f" % (name, len(xs), q(.5), q(.9), xs[-1]))


if __name__ == "__main__":
    main()
