"""Next hops named by host name (RFC 3263 4.2, without NAPTR): sip.proxy,
a gateway JID's SIP domain, a linked account's AOR and a peer's Contact,
resolved by the sip-front through a real DNS server (dnsmasq, serving
xsgw.test: A and SRV records, NXDOMAIN for the rest) or /etc/hosts; a name
that does not resolve comes back to the sender as an error. Prosody,
slixmpp users, SIPp and a scripted SIP peer."""
import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import threading
import uuid

import pytest

import accounts
from conftest import UAS_PORT, run, uas_args, udp_bound, wait_for
from jingle import CONTENTS, PHONE_SDP, SipPeer, hdr, jlogin, tag_of
from test_accounts import REG_PORT, challenge_args, registrations
from test_call import BOB, call_in, online, sessions, until
from test_messaging import error_condition
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from xmpp_user import login, logout

DNS_PORT = 15353
DNS = '["127.0.0.1:%d"]' % DNS_PORT
PEER_PORT = UAS_PORT + 5
CLOSED = UAS_PORT + 7  # nothing listens there
STUCK = UAS_PORT + 8   # a TCP listener whose accept queue is full
AUDIO = CONTENTS.split("</content>")[0] + "</content>"  # fits UDP


@pytest.fixture
def dnsmasq(tmp_path):
    """dnsmasq on 127.0.0.1:DNS_PORT: xsgw.test is its own (anything not
    listed is NXDOMAIN); every query is logged to dns.log."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    log = tmp_path / "dns.log"
    out = open(log, "wb")
    p = subprocess.Popen(
        [exe, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
         "--no-hosts", "--user=root", "--pid-file=",
         "--listen-address=127.0.0.1", "--bind-interfaces",
         "--port=%d" % DNS_PORT, "--local=/xsgw.test/", "--log-queries",
         "--log-facility=-",
         "--host-record=uas.xsgw.test,127.0.0.1",
         "--host-record=proxy.xsgw.test,127.0.0.1",
         "--host-record=peer.xsgw.test,127.0.0.1",
         "--host-record=xmpp.xsgw.test,127.0.0.1",
         # the SIP service of sip.xsgw.test and reg.xsgw.test: SRV only
         "--srv-host=_sip._udp.sip.xsgw.test,uas.xsgw.test,%d,0,5" % UAS_PORT,
         "--srv-host=_sip._udp.reg.xsgw.test,uas.xsgw.test,%d,0,5" % REG_PORT,
         # two targets: the preferred one has no address
         "--srv-host=_sip._udp.two.xsgw.test,gone.xsgw.test,%d,0,5" % UAS_PORT,
         "--srv-host=_sip._udp.two.xsgw.test,uas.xsgw.test,%d,10,5"
         % UAS_PORT,
         # two targets: nothing listens at the preferred one's port
         "--srv-host=_sip._udp.fo.xsgw.test,uas.xsgw.test,%d,0,5" % CLOSED,
         "--srv-host=_sip._udp.fo.xsgw.test,uas.xsgw.test,%d,10,5"
         % UAS_PORT,
         # two targets, both listening: the preferred one, then PEER_PORT
         "--srv-host=_sip._udp.pair.xsgw.test,uas.xsgw.test,%d,0,5"
         % UAS_PORT,
         "--srv-host=_sip._udp.pair.xsgw.test,uas.xsgw.test,%d,10,5"
         % PEER_PORT,
         # over TCP: the preferred one never accepts, then PEER_PORT
         "--srv-host=_sip._tcp.pairt.xsgw.test,uas.xsgw.test,%d,0,5"
         % STUCK,
         "--srv-host=_sip._tcp.pairt.xsgw.test,uas.xsgw.test,%d,10,5"
         % PEER_PORT],
        stdout=out, stderr=subprocess.STDOUT)
    wait_for(lambda: p.poll() is not None or udp_bound(DNS_PORT), 10,
             "dnsmasq on UDP %d" % DNS_PORT)
    assert p.poll() is None, log.read_text()
    p.queries = lambda: [l for l in log.read_text().splitlines()
                         if "query[" in l]
    yield p
    p.terminate()
    p.wait(10)
    out.close()


def chat_to(jid, text):
    """alice sends text to jid; returns the error stanza she gets back,
    or None once the message went (a receipt-less send: the SIP side
    tells)."""
    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        try:
            u.send_message(mto=jid, mbody=text, mtype="chat")
            await asyncio.sleep(0)
        finally:
            await logout(u)
    run(go())


def test_proxy_named_by_dns(gateway_factory, dnsmasq, sipp):
    """sip.proxy: proxy.xsgw.test:5070 (an A record): the MESSAGE reaches
    the SIP peer there, and the name was asked of the DNS server."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gateway_factory(sip={"proxy": '"proxy.xsgw.test:%d"' % UAS_PORT,
                         "dns_servers": DNS})
    chat_to("bob@sip.localhost", "via a named proxy")
    got = wait_for(lambda: uas.logged(), 10, "MESSAGE at the SIP peer")
    assert got == ["via a named proxy"]
    assert any("proxy.xsgw.test" in q for q in dnsmasq.queries())


def test_domain_without_port_follows_srv(gateway_factory, dnsmasq, sipp):
    """sip.domain: sip.xsgw.test, no proxy: bob@sip.localhost is
    sip:bob@sip.xsgw.test, found by SRV _sip._udp.sip.xsgw.test (target
    uas.xsgw.test, port 5070); two messages, one lookup (cached)."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gateway_factory(sip={"domain": "sip.xsgw.test", "dns_servers": DNS})
    chat_to("bob@sip.localhost", "first by SRV")
    wait_for(lambda: len(uas.logged()) == 1, 10, "first MESSAGE")
    chat_to("bob@sip.localhost", "second from the cache")
    got = wait_for(lambda: len(uas.logged()) == 2 and uas.logged(), 10,
                   "second MESSAGE")
    assert sorted(got) == ["first by SRV", "second from the cache"]
    qs = dnsmasq.queries()
    assert len([q for q in qs if "_sip._udp.sip.xsgw.test" in q]) == 1, qs


def test_srv_target_without_address_tries_the_next(gateway_factory, dnsmasq,
                                                   sipp):
    """RFC 3263 4.3: _sip._udp.two.xsgw.test names gone.xsgw.test first
    (priority 0, no address) and uas.xsgw.test then: the MESSAGE reaches
    the second."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gateway_factory(sip={"domain": "two.xsgw.test", "dns_servers": DNS})
    chat_to("bob@sip.localhost", "to the second target")
    got = wait_for(lambda: uas.logged(), 10, "MESSAGE at the SIP peer")
    assert got == ["to the second target"]
    qs = dnsmasq.queries()
    assert any("gone.xsgw.test" in q for q in qs), qs


def test_srv_target_nobody_listens_at_fails_over(gateway_factory, dnsmasq,
                                                 sipp):
    """RFC 3263 4.3: nothing listens at fo.xsgw.test's preferred SRV target
    (the ICMP error is a transport error): the MESSAGE goes to the next
    target, and so does the one after it, at once."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gw = gateway_factory(sip={"domain": "fo.xsgw.test", "dns_servers": DNS,
                              "message_timeout_ms": "30000"})
    chat_to("bob@sip.localhost", "first, after a failover")
    wait_for(lambda: len(uas.logged()) == 1, 10, "first MESSAGE")
    chat_to("bob@sip.localhost", "second, to the next target")
    got = wait_for(lambda: len(uas.logged()) == 2 and uas.logged(), 10,
                   "second MESSAGE")
    assert sorted(got) == ["first, after a failover",
                           "second, to the next target"]
    log = gw.read_log()
    assert log.count("failed, uas.xsgw.test:%d next" % UAS_PORT) == 1, log
    assert "Transport Error" not in log


@contextlib.asynccontextmanager
async def calling_pair(contents=CONTENTS):
    """alice calls bob on pair.xsgw.test (or pairt: PEER_PORT listens on
    both): its two SRV targets, the preferred at UAS_PORT, the other at
    PEER_PORT, as scripted peers. Yields (first, second, alice, sid)."""
    first = await SipPeer.start(UAS_PORT)
    second = await SipPeer.start(PEER_PORT)
    alice = await jlogin("alice@localhost/phone", "alicepass")
    sid = uuid.uuid4().hex[:12]
    try:
        await alice.send_jingle(BOB, "session-initiate", sid, contents)
        yield first, second, alice, sid
    finally:
        await logout(alice)
        first.close()
        second.close()


async def hang_up(alice, phone, sid, gw, reason="success"):
    """alice ends the call (answered: the BYE reaches phone, 200) and the
    gateway forgets it."""
    await alice.send_jingle(BOB, "session-terminate", sid,
                            "<reason><%s/></reason>" % reason)
    bye = await phone.next_request("BYE")
    phone.reply(bye, 200, "OK")
    await until(lambda: sessions(gw) == [], 5, "session removed")
    return bye


async def cancel_ringing(alice, phone, inv, sid, gw):
    """alice hangs up a call ringing at phone: the CANCEL reaches it (200),
    the INVITE ends 487 (ACKed), the gateway forgets the call."""
    await alice.send_jingle(BOB, "session-terminate", sid,
                            "<reason><decline/></reason>")
    can = await phone.next_request("CANCEL")
    phone.reply(can, 200, "OK")
    phone.reply(inv, 487, "Request Terminated")
    await phone.next_request("ACK")
    await until(lambda: sessions(gw) == [], 5, "session removed")
    return can


def branch(req):
    return hdr(req, "Via").split("branch=")[1].split(";")[0]


def test_srv_target_answering_503_fails_over(gateway_factory, dnsmasq):
    """RFC 3261 21.5.4, RFC 3263 4.3: the preferred SRV target of
    pair.xsgw.test answers 503: the MESSAGE goes to the next target as a
    new transaction (the same request with a new branch), whose 200 is
    alice's receipt; her next chat goes to that target at once."""
    gw = gateway_factory(sip={"domain": "pair.xsgw.test",
                              "dns_servers": DNS})

    async def go():
        first = await SipPeer.start(UAS_PORT)
        second = await SipPeer.start(PEER_PORT)
        u = await login("alice@localhost/pc", "alicepass")
        got = asyncio.Queue()
        u.register_handler(Callback("r", MatchXPath(
            "{jabber:client}message/{urn:xmpp:receipts}received"),
            got.put_nowait))
        u.register_handler(Callback("e", MatchXPath(
            "{jabber:client}message/{jabber:client}error"), got.put_nowait))

        def chat(text, mid):
            m = u.make_message(mto="bob@sip.localhost", mbody=text,
                               mtype="chat")
            m["id"] = mid
            m.xml.append(ET.Element("{urn:xmpp:receipts}request"))
            m.send()

        try:
            chat("one", "m1")
            m1 = await first.next_request("MESSAGE")
            first.reply(m1, 503, "Service Unavailable")
            m2 = await second.next_request("MESSAGE")
            second.reply(m2, 200, "OK")
            r1 = await asyncio.wait_for(got.get(), 10)
            chat("two", "m2")
            m3 = await second.next_request("MESSAGE")
            second.reply(m3, 200, "OK")
            r2 = await asyncio.wait_for(got.get(), 10)
            return m1, m2, r1, r2
        finally:
            await logout(u)
            first.close()
            second.close()

    m1, m2, r1, r2 = run(go())
    for r, mid in ((r1, "m1"), (r2, "m2")):
        rc = r.xml.find("{urn:xmpp:receipts}received")
        assert rc is not None and rc.get("id") == mid, r
    assert branch(m2) != branch(m1)
    assert m2.split("\r\n")[0] == m1.split("\r\n")[0]
    for h in ("Call-ID", "CSeq", "From", "To"):
        assert hdr(m2, h) == hdr(m1, h), h
    assert m2.split("\r\n\r\n", 1)[1] == "one"
    assert ("failed, uas.xsgw.test:%d next" % PEER_PORT) in gw.read_log()


def test_invite_answered_503_is_acked_and_fails_over(gateway_factory,
                                                     dnsmasq):
    """alice calls bob at pair.xsgw.test (audio only: the INVITE fits UDP);
    its preferred target answers 503 before ringing: the 503 is ACKed
    there (same branch), and so is its retransmission (the old transaction
    stays Completed for Timer D), the INVITE goes to the next target with
    a new branch, which rings and answers; alice's hang-up's BYE goes to
    the phone that answered."""
    gw = gateway_factory(sip={"domain": "pair.xsgw.test",
                              "dns_servers": DNS})

    async def go():
        async with calling_pair(AUDIO) as (first, second, alice, sid):
            inv1 = await first.next_request("INVITE")
            first.reply(inv1, 503, "Service Unavailable")
            ack = await first.next_request("ACK")
            # its retransmission (our ACK lost): ACKed again there
            first.reply(inv1, 503, "Service Unavailable")
            ack2 = await first.next_request("ACK")
            assert ack2 == ack
            inv2 = await second.next_request("INVITE")
            second.reply(inv2, 180, "Ringing")
            await alice.next_jingle(action="session-info")
            second.reply(inv2, 200, "OK", sdp=PHONE_SDP)
            await alice.next_jingle(action="session-accept")
            await second.next_request("ACK")
            await hang_up(alice, second, sid, gw)
            return inv1, ack, inv2

    inv1, ack, inv2 = run(go())
    assert branch(ack) == branch(inv1)
    assert branch(inv2) != branch(inv1)
    assert hdr(inv2, "Call-ID") == hdr(inv1, "Call-ID")
    assert hdr(inv2, "CSeq") == hdr(inv1, "CSeq")
    assert "SIP/2.0/UDP" in hdr(inv1, "Via")


def test_tcp_connect_pending_at_timer_b_fails_over(gateway_factory,
                                                   dnsmasq):
    """sip.transport tcp; the preferred target of pairt.xsgw.test never
    accepts the connection (its accept queue is full: the SYNs are
    dropped): at Timer B the INVITE goes to the next target, which
    answers; the first connection, once it completes, carries nothing
    (the request queued on it went with the failover)."""
    gw = gateway_factory(sip={"domain": "pairt.xsgw.test",
                              "dns_servers": DNS, "t1_ms": "50",
                              "transport": "tcp"})
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", STUCK))
    lsn.listen(0)
    fillers = []
    for _ in range(2):  # one queued, one whose SYN is dropped
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", STUCK))
        fillers.append(f)

    async def go():
        second = await SipPeer.start(PEER_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = uuid.uuid4().hex[:12]
        try:
            await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
            inv = await second.next_request("INVITE", timeout=15)
            second.reply(inv, 200, "OK", sdp=PHONE_SDP)
            await alice.next_jingle(action="session-accept")
            await second.next_request("ACK")
            # the stuck target accepts now: whatever was queued for it
            # would be written once its connection completes
            lsn.setblocking(False)
            got = b""
            loop = asyncio.get_event_loop()
            end = loop.time() + 9
            conns, peers = [], set()
            mine = {f.getsockname() for f in fillers}
            while loop.time() < end:
                try:
                    c, a = lsn.accept()
                    c.setblocking(False)
                    conns.append(c)
                    peers.add(a)
                except BlockingIOError:
                    pass
                # the gateway's connection came in: a moment for bytes
                if peers - mine and end - loop.time() > 1:
                    end = loop.time() + 1
                for c in conns:
                    try:
                        got += c.recv(65536)
                    except (BlockingIOError, ConnectionError):
                        pass
                if b"INVITE" in got:
                    break
                await asyncio.sleep(0.05)
            for c in conns:
                c.close()
            await hang_up(alice, second, sid, gw)
            return inv, got, peers - mine
        finally:
            await logout(alice)
            second.close()

    try:
        inv, got, gwconns = run(go())
    finally:
        lsn.close()
        for f in fillers:
            f.close()
    assert "SIP/2.0/TCP" in hdr(inv, "Via")
    assert gwconns, "the gateway's connection never completed"
    assert b"INVITE" not in got, got[:300]
    assert "INVITE timed out" in gw.read_log()


def test_invite_timing_out_fails_over_and_cancel_follows(gateway_factory,
                                                         dnsmasq):
    """The preferred target of pair.xsgw.test never answers: at Timer B
    (64*T1, T1 50 ms here) the INVITE goes to the next target with a new
    branch; it rings; alice hangs up: the CANCEL goes there with the
    INVITE's new Via (RFC 3261 9.1), the 487 ends the call."""
    gw = gateway_factory(sip={"domain": "pair.xsgw.test",
                              "dns_servers": DNS, "t1_ms": "50"})

    async def go():
        async with calling_pair(CONTENTS) as (first, second, alice, sid):
            inv1 = await first.next_request("INVITE")
            inv2 = await second.next_request("INVITE", timeout=15)
            second.reply(inv2, 180, "Ringing")
            await alice.next_jingle(action="session-info")
            can = await cancel_ringing(alice, second, inv2, sid, gw)
            return inv1, inv2, can

    inv1, inv2, can = run(go())
    assert branch(inv2) != branch(inv1)
    assert hdr(can, "Via") == hdr(inv2, "Via")
    assert can.split()[1] == inv2.split()[1]
    assert "INVITE timed out" in gw.read_log()


def test_cancelled_invite_does_not_fail_over(gateway_factory, dnsmasq):
    """alice hangs up before anything answered (the CANCEL waits for a
    provisional, RFC 3261 9.1); the preferred target then answers 503: the
    call ends there; the next target never hears of it."""
    gw = gateway_factory(sip={"domain": "pair.xsgw.test",
                              "dns_servers": DNS}, log_level="debug")

    async def go():
        async with calling_pair(CONTENTS) as (first, second, alice, sid):
            inv1 = await first.next_request("INVITE")
            await alice.send_jingle(BOB, "session-terminate", sid,
                                    "<reason><decline/></reason>")
            # the sip-front has the CANCEL (held: nothing answered yet)
            await until(lambda: ": CANCEL sip:" in gw.read_log(), 5,
                        "the CANCEL at the sip-front")
            first.reply(inv1, 503, "Service Unavailable")
            await first.next_request("ACK")
            await until(lambda: sessions(gw) == [], 5, "session removed")
            with pytest.raises(asyncio.TimeoutError):
                await second.next_request(timeout=1)

    run(go())


def test_unresolvable_name_comes_back_as_an_error(gateway_factory, dnsmasq):
    """A gateway JID whose domain has no DNS record: alice gets her message
    back (service-unavailable, the 503 the sip-front reports), well before
    the message timeout; the sip-front stays up."""
    gw = gateway_factory(sip={"allowed_domains": '["nx.xsgw.test"]',
                              "dns_servers": DNS,
                              "message_timeout_ms": "30000"})
    pid = gw.pid("sip-front")

    async def go():
        u = await login("alice@localhost/pc", "alicepass")
        try:
            t0 = asyncio.get_event_loop().time()
            u.send_message(mto="bob\\40nx.xsgw.test@sip.localhost",
                           mbody="anyone?", mtype="chat")
            err = await u.next_message(15, lambda m: m["type"] == "error")
            return err, asyncio.get_event_loop().time() - t0
        finally:
            await logout(u)

    err, took = run(go())
    cond, text = error_condition(err)
    assert str(err["from"]) == "bob\\40nx.xsgw.test@sip.localhost"
    assert cond == "service-unavailable"
    assert text == "SIP 503 Next Hop Not Resolved"
    assert took < 15  # the NXDOMAIN, not the 30 s message timeout
    assert gw.pid("sip-front") == pid
    assert "cannot resolve nx.xsgw.test: no such name" in gw.read_log()


def test_names_in_etc_hosts_need_no_dns_server(gateway_factory, sipp):
    """sip.proxy: localhost:5070 with no DNS server that answers: the name
    is in /etc/hosts."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gateway_factory(sip={"proxy": '"localhost:%d"' % UAS_PORT,
                         "dns_servers": '["127.0.0.1:9"]'})
    chat_to("bob@sip.localhost", "via /etc/hosts")
    got = wait_for(lambda: uas.logged(), 10, "MESSAGE at the SIP peer")
    assert got == ["via /etc/hosts"]


def test_xmpp_server_named_by_dns(gateway_factory, dnsmasq, sipp):
    """xmpp.host: xmpp.xsgw.test (an A record only the DNS server knows):
    the xmpp-front asks sip.dns_servers, connects to Prosody there, and
    chats flow."""
    uas = sipp("uas_message.xml", uas_args(), "uas")
    gw = gateway_factory(xmpp_host="xmpp.xsgw.test",
                         sip={"dns_servers": DNS})
    assert any("xmpp.xsgw.test" in q for q in dnsmasq.queries())
    chat_to("bob@sip.localhost", "to a server found by DNS")
    got = wait_for(lambda: uas.logged(), 10, "MESSAGE at the SIP peer")
    assert got == ["to a server found by DNS"]
    assert "cannot resolve" not in gw.read_log()


class LateDns:
    """A DNS server on 127.0.0.1:port that drops every query until
    answering is set, then answers A 127.0.0.1 for any name (no AAAA)."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.answering = False
        self.dropped = 0
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done:
            try:
                q, src = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if len(q) < 17:
                continue
            if not self.answering:
                self.dropped += 1
                continue
            end = q.index(b"\0", 12) + 5  # the question: name, type, class
            qtype = struct.unpack("!H", q[end - 4:end - 2])[0]
            an = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
                  + socket.inet_aton("127.0.0.1")) if qtype == 1 else b""
            hdr = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if an else 0,
                                      0, 0)
            self.sock.sendto(hdr + q[12:end] + an, src)

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


def test_xmpp_server_name_while_dns_is_down(gateway_factory):
    """xmpp.host is a name and the DNS server does not answer: the
    xmpp-front keeps its loop (the supervisor's 300 ms heartbeats answered,
    no restart), gives each query up after 5 s, says so, and retries; once
    the server answers, the component connects."""
    dns = LateDns(DNS_PORT + 1)
    try:
        gw = gateway_factory(xmpp_host="xmpp.example.invalid", wait_xmpp=False,
                             sip={"dns_servers": '["127.0.0.1:%d"]'
                                  % (DNS_PORT + 1)})
        pid = gw.pid("xmpp-front")
        wait_for(lambda: "xmpp: cannot resolve xmpp.example.invalid: "
                 "Connection timed out" in gw.read_log(), 20,
                 "the lookup given up")
        assert dns.dropped >= 1
        st = gw.status()["xmpp-front"]
        assert st["restarts"] == 0 and st["state"] == "ready"
        assert gw.pid("xmpp-front") == pid
        dns.answering = True
        wait_for(lambda: "xmpp: connected" in gw.read_log(), 20,
                 "component connected once DNS answers")
        assert gw.pid("xmpp-front") == pid
        assert gw.status()["xmpp-front"]["restarts"] == 0
    finally:
        dns.close()


def link_registered(gateway_factory, sipp, fields):
    """olivia links fields with the SIPp registrar at REG_PORT reached by
    DNS: the link succeeds and the account is registered (olivia: a user no
    other test logs in as — the gateway's subscription requests she never
    answers stay with her, and would reach any later test's user).
    @return the registrations table"""
    reg = sipp("uas_register_challenge.xml", challenge_args(), "registrar")
    gw = gateway_factory(sip={"dns_servers": DNS})

    async def go():
        u = await accounts.login("olivia@localhost", "oliviapass")
        try:
            _, cond, text = await u.link(fields)
            return cond, text
        finally:
            u.disconnect()

    cond, text = run(go())
    assert cond is None, (cond, text)
    assert reg.wait(15) == 0
    return registrations(gw)


def test_account_aor_domain_found_by_srv(gateway_factory, dnsmasq, sipp):
    """A linked account sip:alice@reg.xsgw.test, no proxy in the form and
    no sip.proxy: the REGISTER goes where SRV _sip._udp.reg.xsgw.test
    says (the SIPp registrar), and the account is registered."""
    regs = link_registered(gateway_factory, sipp, {
        "username": "sip:alice@reg.xsgw.test", "password": "alicepw"})
    assert [(r["aor"], r["state"]) for r in regs] == [
        ("sip:alice@reg.xsgw.test", "registered")]


def test_account_proxy_named_by_dns(gateway_factory, dnsmasq, sipp):
    """The form's proxy as a name with a port: registered through it."""
    regs = link_registered(gateway_factory, sipp, {
        "username": "sip:alice@example.org", "password": "alicepw",
        "proxy": "proxy.xsgw.test:%d" % REG_PORT})
    assert [r["state"] for r in regs] == ["registered"]


def test_caller_contact_named_by_dns_gets_the_bye(gateway_factory, dnsmasq):
    """A phone calls alice with Contact sip:peer@peer.xsgw.test:<port>:
    alice's hang-up's BYE goes there (the remote target, RFC 3261 12.1.1)."""
    gw = gateway_factory(sip={"dns_servers": DNS})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        there = await SipPeer.start(PEER_PORT)
        peer.contact = "sip:peer@peer.xsgw.test:%d" % PEER_PORT
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gw, "alice@localhost/phone")
        try:
            d, j, ok = await call_in(alice, peer)
            peer.ack(d, tag_of(hdr(ok, "To")))
            await until(lambda: [x for x in sessions(gw)
                                 if x["state"] == "active"], 5, "active")
            r = await alice.send_jingle(j.get("initiator"),
                                        "session-terminate", j.get("sid"),
                                        "<reason><success/></reason>")
            assert r["type"] == "result"
            bye = await there.next_request("BYE")
            there.reply(bye, 200, "OK")
            await until(lambda: sessions(gw) == [], 5, "session removed")
            return ok, bye
        finally:
            await logout(alice)
            peer.close()
            there.close()

    ok, bye = run(go())
    assert bye.startswith("BYE sip:peer@peer.xsgw.test:%d " % PEER_PORT), bye
    assert hdr(bye, "Call-ID") == hdr(ok, "Call-ID")
    assert any("peer.xsgw.test" in q for q in dnsmasq.queries())


def test_callee_contact_named_by_dns_gets_the_ack_and_bye(gateway_factory,
                                                         dnsmasq):
    """alice calls a phone whose 200 names Contact
    sip:peer@peer.xsgw.test:<port>: the ACK and alice's BYE go there."""
    gw = gateway_factory(sip={"dns_servers": DNS})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        there = await SipPeer.start(PEER_PORT)
        peer.contact = "sip:peer@peer.xsgw.test:%d" % PEER_PORT
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = uuid.uuid4().hex[:12]
        try:
            r = await alice.send_jingle(BOB, "session-initiate", sid,
                                        CONTENTS)
            assert r["type"] == "result"
            inv = await peer.next_request("INVITE")
            peer.reply(inv, 200, "OK", sdp=PHONE_SDP)
            _, j = await alice.next_jingle(action="session-accept")
            ack = await there.next_request("ACK")
            r = await alice.send_jingle(BOB, "session-terminate", sid,
                                        "<reason><success/></reason>")
            assert r["type"] == "result"
            bye = await there.next_request("BYE")
            there.reply(bye, 200, "OK")
            await until(lambda: sessions(gw) == [], 5, "session removed")
            return inv, ack, bye
        finally:
            await logout(alice)
            peer.close()
            there.close()

    inv, ack, bye = run(go())
    for req in (ack, bye):
        assert req.startswith("%s sip:peer@peer.xsgw.test:%d "
                              % (req.split()[0], PEER_PORT)), req
        assert hdr(req, "Call-ID") == hdr(inv, "Call-ID")


def test_too_large_for_udp_goes_over_tcp_to_the_srv_target(gateway_factory,
                                                           dnsmasq):
    """sip.domain sip.xsgw.test publishes _sip._udp only: a chat too large
    for UDP goes over TCP (RFC 3261 18.1.1) to that SRV target, not to a
    _sip._tcp lookup's (there is none) nor the domain's own address."""
    gateway_factory(sip={"domain": "sip.xsgw.test", "dns_servers": DNS})
    big = "big " + "ü" * 1000

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        u = await login("alice@localhost/pc", "alicepass")
        try:
            u.send_message(mto="bob@sip.localhost", mbody=big, mtype="chat")
            msg = await peer.next_request("MESSAGE")
            peer.reply(msg, 200, "OK")
            return msg
        finally:
            await logout(u)
            peer.close()

    msg = run(go())
    assert "SIP/2.0/TCP" in hdr(msg, "Via"), hdr(msg, "Via")
    assert msg.split("\r\n\r\n", 1)[1] == big
    assert not any("_sip._tcp" in q for q in dnsmasq.queries())


def test_cancel_goes_where_the_invite_went(gateway_factory, dnsmasq):
    """alice calls bob on a named domain and hangs up while it rings: the
    CANCEL reaches the phone the INVITE reached, with the INVITE's branch
    (RFC 3261 9.1)."""
    gw = gateway_factory(sip={"domain": '"uas.xsgw.test:%d"' % UAS_PORT,
                              "dns_servers": DNS})

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = uuid.uuid4().hex[:12]
        try:
            await alice.send_jingle(BOB, "session-initiate", sid, CONTENTS)
            inv = await peer.next_request("INVITE")
            peer.reply(inv, 180, "Ringing")
            await alice.next_jingle(action="session-info")
            can = await cancel_ringing(alice, peer, inv, sid, gw)
            return inv, can
        finally:
            await logout(alice)
            peer.close()

    inv, can = run(go())
    assert hdr(can, "Via") == hdr(inv, "Via")
    assert can.split()[1] == inv.split()[1]
