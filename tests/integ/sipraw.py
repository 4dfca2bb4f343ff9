"""Hand-written SIP over UDP for the tests that need exact control."""
import uuid


def request(method, ruri, frm, to, port, extra="", body=b"",
            ctype="text/plain"):
    """One request from 127.0.0.1:port (Via with rport), as bytes.
    extra: more header lines, each ending in CRLF."""
    cid = uuid.uuid4().hex
    if body:
        extra += "Content-Type: %s\r\n" % ctype
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
            "Call-ID: %s\r\nCSeq: 1 %s\r\n%sContent-Length: %d\r\n\r\n"
            % (method, ruri, port, cid[:10], frm, cid[10:18], to, cid,
               method, extra, len(body))).encode() + body


def reply_to(req, code, reason):
    """A response to a request (text), copying its transaction headers."""
    head = req.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [h for h in head[1:] if h.split(":", 1)[0].lower()
            in ("via", "from", "to", "call-id", "cseq")]
    return ("SIP/2.0 %d %s\r\n%s\r\nContent-Length: 0\r\n\r\n"
            % (code, reason, "\r\n".join(keep))).encode()


def final(sock):
    """Read responses until a final one; returns (code, text)."""
    while True:
        data = sock.recv(65535).decode("utf-8", "replace")
        if data.startswith("SIP/2.0 "):
            code = int(data.split(" ", 2)[1])
            if code >= 200:
                return code, data
