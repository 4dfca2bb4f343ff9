#!/usr/bin/python3
"""A SIP watcher over UDP (stdlib only): SUBSCRIBE to one event package for
one AOR, answer every NOTIFY with 200, refresh the subscription, and
un-SUBSCRIBE (Expires: 0) on SIGTERM/SIGINT, at --duration, or after --until.

  sip_watcher.py --server 127.0.0.1:5060 --aor sip:alice@127.0.0.1 --event reg
                 [--accept MIME] [--expires 120] [--refresh S] [--port 0]
                 [--bind 127.0.0.1] [--from sip:watcher@HOST] [--duration S]
                 [--until REGEX] [--unsub-timeout 5]

stdout: one JSON object per NOTIFY received (retransmissions are answered but
not printed again), flushed at once:
  {"kind": "notify", "n": 1, "t": 1700000000.123, "cseq": 1,
   "event": "reg", "sub_state": "active;expires=120",
   "content_type": "application/reginfo+xml", "body": "<?xml ...", "final": false}
  (t = time.time() when it arrived; final = it came after our un-SUBSCRIBE)
stderr: one JSON object per other happening: {"kind": "response", "code": 202,
  "cseq": 1, "expires": 120, ...}, {"kind": "refresh", ...}, {"kind": "unsubscribe"},
  {"kind": "end", "reason": ..., "rc": ...}, {"kind": "ready", "port": N}.

--refresh S: re-SUBSCRIBE every S seconds (default: half the granted Expires).
--until REGEX: stop (un-SUBSCRIBE) once a NOTIFY body matches (Python re,
  DOTALL). --duration S: stop after S seconds.
Accept defaults: reg -> application/reginfo+xml, dialog ->
  application/dialog-info+xml, presence -> application/pidf+xml.
Exit: 0 stopped cleanly (final NOTIFY with Subscription-State: terminated seen),
  1 --duration reached without a --until match, 2 SUBSCRIBE refused or
  unanswered, 3 the notifier terminated the subscription, 4 the un-SUBSCRIBE
  got no 2xx or no terminated NOTIFY within --unsub-timeout.
"""
import argparse
import json
import random
import re
import select
import signal
import socket
import sys
import time

ACCEPT = {"reg": "application/reginfo+xml",
          "dialog": "application/dialog-info+xml",
          "presence": "application/pidf+xml"}
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "o": "event"}


def emit(stream, obj):
    stream.write(json.dumps(obj, sort_keys=False) + "\n")
    stream.flush()


def log(**kw):
    emit(sys.stderr, kw)


class Msg:
    """a parsed SIP message: first line, headers (name lower-cased, order kept), body"""

    def __init__(self, data):
        text = data.decode("utf-8", errors="replace")
        head, sep, body = text.partition("\r\n\r\n")
        if not sep:
            head, _, body = text.partition("\n\n")
        lines = re.split(r"\r?\n", head)
        # unfold continuation lines
        unfolded = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and unfolded:
                unfolded[-1] += " " + line.strip()
            else:
                unfolded.append(line)
        self.first = lines[0]
        self.headers = []
        for line in unfolded:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            name = COMPACT.get(name, name)
            self.headers.append((name, value.strip()))
        clen = self.get("content-length")
        if clen is not None and clen.isdigit():
            body = body.encode("utf-8", errors="replace")[:int(clen)].decode("utf-8", errors="replace")
        self.body = body
        self.is_response = self.first.startswith("SIP/2.0 ")
        if self.is_response:
            parts = self.first.split(" ", 2)
            self.code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.reason = parts[2] if len(parts) > 2 else ""
            self.method = None
        else:
            self.method = self.first.split(" ", 1)[0]
            self.code = 0
        cseq = (self.get("cseq") or "0 X").split()
        self.cseq = int(cseq[0]) if cseq[0].isdigit() else 0
        self.cseq_method = cseq[1] if len(cseq) > 1 else ""

    def get(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name]


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return m.group(1) if m else None


def uri_of(value):
    m = re.search(r"<([^>]*)>", value or "")
    if m:
        return m.group(1)
    return (value or "").split(";")[0].strip()


class Watcher:
    def __init__(self, a):
        self.a = a
        host, port = a.server.rsplit(":", 1)
        self.server = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((a.bind, a.port))
        self.lport = self.sock.getsockname()[1]
        self.callid = "%016x@sipwatcher" % random.getrandbits(64)
        self.ftag = "%08x" % random.getrandbits(32)
        self.totag = None
        self.target = a.aor
        self.route = []
        self.cseq = 0
        self.pending = None        # [msg bytes, branch, cseq, next retrans, interval, deadline, expires]
        self.established = False
        self.refresh_at = None
        self.seen_cseqs = set()
        self.n = 0
        self.stop_reason = None
        self.unsubscribing = False
        self.unsub_deadline = None
        self.unsub_ok = False
        self.final_seen = False
        self.matched = False
        self.accept = a.accept or ACCEPT.get(a.event, "*/*")
        self.from_uri = a.from_uri or "sip:watcher@%s" % re.sub(r"^sips?:([^@]*@)?", "", a.aor).split(";")[0]

    # ---------------------------------------------------------------- sending
    def send_subscribe(self, expires):
        self.cseq += 1
        branch = "z9hG4bK%016x" % random.getrandbits(64)
        to = "<%s>" % self.a.aor + (";tag=%s" % self.totag if self.totag else "")
        hdrs = ["SUBSCRIBE %s SIP/2.0" % self.target,
                "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (self.a.bind, self.lport, branch),
                "Max-Forwards: 70",
                "From: <%s>;tag=%s" % (self.from_uri, self.ftag),
                "To: %s" % to,
                "Call-ID: %s" % self.callid,
                "CSeq: %d SUBSCRIBE" % self.cseq]
        if self.route:
            hdrs.append("Route: " + ", ".join(self.route))
        hdrs += ["Contact: <sip:watcher@%s:%d;transport=udp>" % (self.a.bind, self.lport),
                 "Event: %s" % self.a.event,
                 "Accept: %s" % self.accept,
                 "Expires: %d" % expires,
                 "User-Agent: sip_watcher.py",
                 "Content-Length: 0", "", ""]
        data = "\r\n".join(hdrs).encode()
        now = time.time()
        self.pending = [data, branch, self.cseq, now + 0.5, 0.5, now + 16, expires]
        self.sock.sendto(data, self.server)

    def reply(self, req, code, reason):
        to = req.get("to") or ""
        if code >= 200 and not tag_of(to):
            to += ";tag=%s" % self.ftag
        hdrs = ["SIP/2.0 %d %s" % (code, reason)]
        hdrs += ["Via: " + v for v in req.all("via")]
        hdrs += ["From: %s" % req.get("from"), "To: %s" % to,
                 "Call-ID: %s" % req.get("call-id"), "CSeq: %s" % req.get("cseq"),
                 "Contact: <sip:watcher@%s:%d;transport=udp>" % (self.a.bind, self.lport),
                 "Content-Length: 0", "", ""]
        return "\r\n".join(hdrs).encode()

    # -------------------------------------------------------------- receiving
    def on_response(self, m):
        p = self.pending
        if p is None or m.cseq != p[2] or m.cseq_method != "SUBSCRIBE":
            return
        via = m.get("via") or ""
        if ("branch=%s" % p[1]) not in via:
            return
        if m.code < 200:
            p[3] = time.time() + 4      # provisional: slow down retransmissions
            return
        self.pending = None
        exp_hdr = m.get("expires")
        granted = int(exp_hdr) if exp_hdr and exp_hdr.isdigit() else p[6]
        log(kind="response", t=time.time(), cseq=m.cseq, code=m.code, reason=m.reason,
            expires=granted, requested=p[6])
        if 200 <= m.code < 300:
            if not self.totag:
                self.totag = tag_of(m.get("to"))
            if not self.established:
                rr = m.all("record-route")
                self.route = list(reversed([r.strip() for h in rr for r in h.split(",")]))
                contact = m.get("contact")
                if contact:
                    self.target = uri_of(contact)
            self.established = True
            if self.unsubscribing:
                self.unsub_ok = True
            else:
                every = self.a.refresh if self.a.refresh else max(granted / 2.0, 1.0)
                self.refresh_at = time.time() + every
            return
        # error
        min_exp = m.get("min-expires")
        if m.code == 423 and min_exp and min_exp.isdigit() and not self.unsubscribing \
                and self.a.expires < int(min_exp):
            self.a.expires = int(min_exp)   # Interval Too Brief: retry with Min-Expires
            self.send_subscribe(self.a.expires)
            return
        if self.unsubscribing:
            self.finish("unsubscribe refused %d" % m.code, 4)
        if m.code == 481 and self.established:
            self.finish("subscription gone (481)", 3)
        self.finish("SUBSCRIBE refused %d %s" % (m.code, m.reason), 2)

    def on_request(self, m, src):
        if m.method == "ACK":
            return
        if m.method != "NOTIFY" or m.get("call-id") != self.callid:
            code, reason = (481, "Subscription Does Not Exist") if m.method == "NOTIFY" else (405, "Method Not Allowed")
            self.sock.sendto(self.reply(m, code, reason), src)
            return
        self.sock.sendto(self.reply(m, 200, "OK"), src)
        if m.cseq in self.seen_cseqs:
            return                          # a retransmission
        self.seen_cseqs.add(m.cseq)
        if not self.totag:
            self.totag = tag_of(m.get("from"))
        contact = m.get("contact")
        if contact:
            self.target = uri_of(contact)
        self.n += 1
        state = m.get("subscription-state") or ""
        emit(sys.stdout, {"kind": "notify", "n": self.n, "t": time.time(), "cseq": m.cseq,
                          "event": m.get("event"), "sub_state": state,
                          "content_type": m.get("content-type"), "body": m.body,
                          "final": self.unsubscribing})
        if state.lower().startswith("terminated"):
            if self.unsubscribing:
                self.final_seen = True
            else:
                self.finish("terminated by the notifier: %s" % state, 3)
            return
        if self.a.until and not self.unsubscribing and re.search(self.a.until, m.body, re.S):
            self.matched = True
            self.stop("until matched")

    # ------------------------------------------------------------------ flow
    def stop(self, reason):
        if self.unsubscribing or self.stop_reason:
            return
        self.stop_reason = reason
        if not self.established:
            self.finish(reason + " before the subscription was up", 2)
        self.unsubscribing = True
        self.refresh_at = None
        log(kind="unsubscribe", t=time.time(), reason=reason)
        self.send_subscribe(0)
        self.unsub_deadline = time.time() + self.a.unsub_timeout

    def finish(self, reason, rc):
        log(kind="end", t=time.time(), reason=reason, rc=rc, notifies=self.n)
        sys.exit(rc)

    def run(self):
        a = self.a
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "sig", "SIGTERM"))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "sig", "SIGINT"))
        self.sig = None
        end_at = time.time() + a.duration if a.duration else None
        log(kind="ready", t=time.time(), port=self.lport, aor=a.aor, event=a.event)
        self.send_subscribe(a.expires)
        while True:
            now = time.time()
            if self.sig and not self.unsubscribing:
                self.stop(self.sig)
            if end_at and now >= end_at and not self.unsubscribing:
                self.stop("duration")
            if self.unsubscribing:
                if self.unsub_ok and self.final_seen:
                    rc = 0
                    if self.stop_reason == "duration" and a.until and not self.matched:
                        rc = 1
                    self.finish("stopped (%s)" % self.stop_reason, rc)
                if now >= self.unsub_deadline:
                    self.finish("un-SUBSCRIBE incomplete (2xx %s, terminated NOTIFY %s)"
                                % (self.unsub_ok, self.final_seen), 4)
            if self.refresh_at and now >= self.refresh_at and self.pending is None:
                self.refresh_at = None
                log(kind="refresh", t=now, cseq=self.cseq + 1)
                self.send_subscribe(a.expires)
            p = self.pending
            if p is not None:
                if now >= p[5]:
                    self.pending = None
                    if self.unsubscribing:
                        self.finish("un-SUBSCRIBE unanswered", 4)
                    self.finish("SUBSCRIBE unanswered (cseq %d)" % p[2], 2)
                if now >= p[3]:
                    self.sock.sendto(p[0], self.server)
                    p[4] = min(p[4] * 2, 4.0)
                    p[3] = now + p[4]
            wake = [now + 0.2]
            for x in (self.refresh_at, end_at, p[3] if p else None, self.unsub_deadline):
                if x:
                    wake.append(x)
            timeout = max(0.0, min(wake) - time.time())
            try:
                r, _, _ = select.select([self.sock], [], [], timeout)
            except InterruptedError:
                continue
            if not r:
                continue
            data, src = self.sock.recvfrom(65535)
            if not data.strip():
                continue                    # keep-alive
            try:
                m = Msg(data)
            except Exception as e:          # noqa: BLE001 - never die on junk
                log(kind="error", t=time.time(), error="unparsable message: %s" % e)
                continue
            if m.is_response:
                self.on_response(m)
            else:
                self.on_request(m, src)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="HOST:PORT of the notifier (or its proxy)")
    ap.add_argument("--aor", required=True, help="R-URI and To of the SUBSCRIBE, e.g. sip:alice@127.0.0.1")
    ap.add_argument("--event", required=True)
    ap.add_argument("--accept")
    ap.add_argument("--expires", type=int, default=120)
    ap.add_argument("--refresh", type=float, default=0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--from", dest="from_uri")
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--until")
    ap.add_argument("--unsub-timeout", type=float, default=5)
    Watcher(ap.parse_args()).run()


if __name__ == "__main__":
    main()
