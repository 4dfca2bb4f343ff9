"""SIP accounts with real peers (issue 11 point 8, SPEC §6.2): baresip as the
far phone. Kamailio is the digest registrar and proxy (kam_auth_start.sh);
baresip registers there as sip:barry@127.0.0.1 with its own password
(Kamailio is its outbound proxy); the XMPP user judy links
sip:judy@127.0.0.1 with the gateway (XEP-0077) at the same Kamailio. Every
call and chat goes through Kamailio's digest (407) and its location lookup;
every wait has a timeout and waits for an event (a stanza, a baresip
ctrl_tcp event or log line, a Kamailio log line, an RTP packet).

Tests: judy calls barry (407, ringing, answer, hang up); barry calls judy
(UDP and TCP account); in a call DTMF both ways and hold/resume both ways;
unanswered calls (judy cancels, baresip rejects, baresip cancels: missed
call); a call while judy is offline (XEP-0353 propose/retract and the
missed-call chat stored for her); chats both ways; calling back / replying
to the JID a call or chat from the account's own domain came from.

What baresip 1.0.0 cannot do here: send DTMF as SIP INFO (its digits go
only as RFC 4733 telephone-event in the RTP, so judy sees them in her media,
never as a Jingle session-info), and accept an INFO of any type but
application/dtmf-relay (488), so the generic <info/> of SPEC 6.2 is not
tested against it."""
import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET

import pytest

import accounts
from conftest import PEERS, run, wait_for
from jingle import q, reason_of

sys.path.insert(0, PEERS)
from baresip_ctrl import BaresipCtrl  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath  # noqa: E402

KAM_PORT = 5160
BARESIP_PORT = 5080
BARESIP_CTRL = 4444
JUDY = "judy@localhost"
JUDY_PASS = "judypass"
JUDY_AOR = "sip:judy@127.0.0.1"
BARRY_AOR = "sip:barry@127.0.0.1"  # baresip's AOR, in judy's domain
BARRY = "barry@" + accounts.COMPONENT  # judy's account's domain
ACCOUNT = {"username": JUDY_AOR, "password": "judypw",
           "proxy": "127.0.0.1:%d" % KAM_PORT}
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_RTP_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
NS_DTMF = "urn:xmpp:jingle:dtmf:0"
NS_JMI = "urn:xmpp:jingle-message:0"


# ---- peers ---------------------------------------------------------------

@pytest.fixture(scope="module")
def judy_user(prosody):
    """judy exists at Prosody (the session's Prosody has a fixed user list:
    she is added with prosodyctl, as prosody_start.sh adds its users)."""
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    run_as = os.environ.get("PROSODY_RUN_AS")
    pre = ["runuser", "-u", run_as, "--"] if run_as and os.getuid() == 0 else []
    r = subprocess.run(pre + ["prosodyctl", "--config", cfg, "register", "judy",
                              "localhost", JUDY_PASS],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr + r.stdout
    return JUDY


class Kamailio:
    """kam_auth_start.sh: digest registrar + proxy for judy and barry."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "kam")
        env = dict(os.environ, SIP_PORT=str(KAM_PORT),
                   KAM_USERS="judy:judypw barry:barrypw")
        r = subprocess.run([os.path.join(PEERS, "kam_auth_start.sh"), self.dir],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout

    def log(self):
        with open(os.path.join(self.dir, "kamailio.log"), errors="replace") as f:
            return f.read()

    def registered(self, user):
        return re.search(r"REGISTER saved aor=%s granted=[1-9]" % user, self.log())

    def stop(self):
        subprocess.run([os.path.join(PEERS, "kamailio_stop.sh"), self.dir],
                       capture_output=True, timeout=30)


class Baresip:
    """baresip (baresip_start.sh) registered at Kamailio as barry, with
    Kamailio as its outbound proxy, answering only when told (manual), no
    ICE (it does not gather on loopback). Driven over ctrl_tcp; blocking
    calls run in an executor so that slixmpp keeps running."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "baresip")
        # `message TEXT` sends a SIP MESSAGE to judy's AOR (contact.so)
        env = dict(os.environ, BARESIP_USER="barry",
                   BARESIP_SIP_PORT=str(BARESIP_PORT),
                   BARESIP_CTRL_PORT=str(BARESIP_CTRL),
                   BARESIP_REGISTRAR="127.0.0.1:%d" % KAM_PORT,
                   BARESIP_AOR=BARRY_AOR,
                   BARESIP_ANSWERMODE="manual",
                   BARESIP_MESSAGE_TO=JUDY_AOR,
                   BARESIP_EXTRA_ACCOUNT_PARAMS=';auth_pass=barrypw;outbound="sip:127.0.0.1:%d"'
                   % KAM_PORT)
        r = subprocess.run([os.path.join(PEERS, "baresip_start.sh"), self.dir],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        try:
            self.ctrl = BaresipCtrl(BARESIP_CTRL)
        except Exception:
            self.stop()
            raise

    def log(self):
        with open(os.path.join(self.dir, "baresip.log"), errors="replace") as f:
            return f.read()

    async def cmd(self, command, params=None):
        r = await asyncio.get_event_loop().run_in_executor(
            None, self.ctrl.command, command, params)
        assert r.get("ok"), r
        return r

    async def event(self, *types, timeout=15):
        try:
            return await asyncio.get_event_loop().run_in_executor(
                None, self.ctrl.wait_event, list(types), timeout)
        except TimeoutError:
            raise AssertionError("baresip: no %s in %ss; events %s; log:\n%s" % (
                types, timeout, self.ctrl.events, self.log()[-3000:]))

    async def log_line(self, pattern, count=1, timeout=10):
        """Wait until pattern is in baresip's log count times."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            m = re.findall(pattern, self.log())
            if len(m) >= count:
                return m
            assert loop.time() < end, "baresip log: %r %d times, not %d; log:\n%s" % (
                pattern, len(m), count, self.log()[-3000:])
            await asyncio.sleep(0.05)

    def stop(self):
        try:
            if getattr(self, "ctrl", None):
                self.ctrl.close()
        finally:
            subprocess.run([os.path.join(PEERS, "baresip_stop.sh"), self.dir],
                           capture_output=True, timeout=30)


@pytest.fixture
def kam(tmp_path):
    k = Kamailio(str(tmp_path))
    yield k
    k.stop()


@pytest.fixture
def barry(kam, tmp_path):
    b = Baresip(str(tmp_path))
    try:
        wait_for(lambda: kam.registered("barry"), 10, "baresip registered at Kamailio")
        yield b
    finally:
        b.stop()


# ---- XMPP side -----------------------------------------------------------

def sessions(gw):
    return json.loads(gw.ctl("sessions", "--json").stdout)["sessions"]


async def until(pred, timeout, what):
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "timed out after %ss waiting for %s" % (timeout, what)
        await asyncio.sleep(0.05)


async def known_online(gw, jid):
    await until(lambda: jid in [p["jid"] for p in json.loads(
        gw.ctl("presence", "--json").stdout)["presence"]], 10, jid + " online at the gateway")


async def judy_linked(gw, kam, resource="phone", transport="udp"):
    """judy logs in, tells the gateway she is online and links her SIP
    account: the gateway REGISTERs at Kamailio (401 answered) over
    transport."""
    u = await accounts.login("%s/%s" % (JUDY, resource), JUDY_PASS)
    u.online_to_gateway()
    await known_online(gw, "%s/%s" % (JUDY, resource))
    acc = dict(ACCOUNT)
    if transport != "udp":
        acc["proxy"] += ";transport=" + transport
    _, cond, text = await u.link(acc)
    assert cond is None, (cond, text)
    await until(lambda: kam.registered("judy"), 5, "judy's binding at Kamailio")
    return u


class Rtp(asyncio.DatagramProtocol):
    """judy's media address: collects the RTP packets that reach it."""

    def __init__(self):
        self.packets = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.packets.put_nowait(data)

    async def next_event(self, pt, timeout=10):
        """The next RFC 4733 packet of payload type pt: (event, end bit)."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise AssertionError("no RTP telephone-event (pt %d) in %ss" % (pt, timeout))
            data = await asyncio.wait_for(self.packets.get(), left)
            if len(data) >= 16 and data[1] & 0x7f == pt:
                return data[12], bool(data[13] & 0x80)


async def rtp_socket():
    loop = asyncio.get_event_loop()
    tr, proto = await loop.create_datagram_endpoint(Rtp, local_addr=("127.0.0.1", 0))
    return tr, proto, tr.get_extra_info("sockname")[1]


def audio(port):
    """judy's audio content: PCMU + telephone-event, raw UDP at port."""
    return ("<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>"
            "<description xmlns='%s' media='audio'>"
            "<payload-type id='0' name='PCMU' clockrate='8000'/>"
            "<payload-type id='101' name='telephone-event' clockrate='8000'/>"
            "</description>"
            "<transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>"
            "<candidate id='r1' component='1' generation='0' ip='127.0.0.1' port='%d'/>"
            "</transport></content>" % (NS_RTP, port))


def answer_to(j, port):
    """judy's answer to a session-initiate: PCMU and telephone-event with
    the offer's ids, raw UDP at port; returns (contents, te payload id)."""
    c = j.find(q("content"))
    pts = c.findall(".//{%s}payload-type" % NS_RTP)
    te = [p.get("id") for p in pts if (p.get("name") or "").lower() == "telephone-event"
          and p.get("clockrate") == "8000"]
    assert any(p.get("name") == "PCMU" for p in pts), ET.tostring(c)
    assert te, "no telephone-event/8000 in the offer: %s" % ET.tostring(c)
    body = audio(port).replace("name='audio'", "name='%s'" % c.get("name")) \
                      .replace("id='101'", "id='%s'" % te[0])
    return body, int(te[0])


async def accounts_logout(u):
    u.disconnect()
    await asyncio.wait_for(u.disconnected, 5)



# ---- 1. judy calls barry -------------------------------------------------

def test_judy_calls_baresip_through_her_account(gateway, kam, barry, judy_user):
    """session-initiate to barry@sip.localhost -> INVITE From judy's AOR
    through Kamailio (407 answered by the gateway), baresip rings (180 ->
    session-info <ringing/>), answers (200 -> session-accept), judy hangs
    up (BYE through Kamailio's Record-Route) -> baresip closes the call."""
    async def go():
        u = await judy_linked(gateway, kam)
        try:
            sid = "jb" + uuid.uuid4().hex[:10]
            r = await u.send_jingle(BARRY, "session-initiate", sid, audio(41000))
            assert r["type"] == "result"
            ev = await barry.event("CALL_INCOMING")
            # the INVITE baresip got is From judy's AOR
            assert ev.get("peeruri", "").startswith(JUDY_AOR), ev
            await barry.log_line(r"Incoming call from: .*%s" % re.escape(JUDY_AOR))
            log = kam.log()
            assert re.search(r"REQ INVITE from=judy .*AUTH challenge 407", log), log[-3000:]
            assert re.search(r"REQ INVITE from=judy .*AUTH ok user=judy", log), log[-3000:]
            assert re.search(r"LOOKUP barry -> sip:\S*@127.0.0.1:%d" % BARESIP_PORT, log), log[-3000:]
            _, j = await u.next_jingle(action="session-info")
            assert j.get("sid") == sid
            assert j.find("{%s}ringing" % NS_RTP_INFO) is not None
            await barry.cmd("accept")
            _, j = await u.next_jingle(action="session-accept", timeout=15)
            assert j.get("sid") == sid
            assert j.find(".//{%s}payload-type[@name='PCMU']" % NS_RTP) is not None
            await barry.event("CALL_ESTABLISHED")
            await until(lambda: sessions(gateway) and
                        sessions(gateway)[0]["state"] == "active", 5, "active")
            r = await u.send_jingle(BARRY, "session-terminate", sid,
                                    "<reason><success/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
        finally:
            u.disconnect()
    run(go(), timeout=50)


# ---- 2. barry calls judy -------------------------------------------------

@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_baresip_calls_judys_aor(gateway, kam, barry, judy_user, transport):
    """baresip dials judy's AOR: Kamailio challenges baresip, looks judy up
    (the gateway's registered Contact, over the account's transport),
    judy's resource gets the session-initiate, accepts, baresip is
    established; baresip hangs up -> session-terminate <success/>. Over
    TCP a call from judy to barry works too."""
    async def go():
        u = await judy_linked(gateway, kam, transport=transport)
        try:
            await barry.cmd("dial", JUDY_AOR)
            iq, j = await u.next_jingle(action="session-initiate", timeout=15)
            assert "barry" in j.get("initiator"), j.attrib
            assert str(iq["to"]) == JUDY + "/phone"
            log = kam.log()
            assert re.search(r"REQ INVITE from=barry .*AUTH ok user=barry", log), log[-3000:]
            lookup = re.search(r"LOOKUP judy -> (sip:\S*127.0.0.1:5600\S*)", log)
            assert lookup, log[-3000:]
            assert (";transport=tcp" in lookup.group(1)) == (transport == "tcp"), lookup.group(1)
            ans, _ = answer_to(j, 42000)
            r = await u.send_jingle(iq["from"], "session-accept", j.get("sid"), ans)
            assert r["type"] == "result"
            await barry.event("CALL_ESTABLISHED")
            await barry.cmd("hangup")
            _, t = await u.next_jingle(action="session-terminate", timeout=15)
            assert t.get("sid") == j.get("sid")
            assert reason_of(t)[0] == "success"
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
            if transport == "udp":
                return  # (test 1 is the call out over UDP)
            sid = "jt" + uuid.uuid4().hex[:10]
            r = await u.send_jingle(BARRY, "session-initiate", sid, audio(41000))
            assert r["type"] == "result"
            ev = await barry.event("CALL_INCOMING")
            assert ev.get("peeruri", "").startswith(JUDY_AOR), ev
            assert re.search(r"REQ INVITE from=judy src=\S+/tcp .*AUTH ok user=judy",
                             kam.log()), kam.log()[-3000:]
            await barry.cmd("accept")
            _, j = await u.next_jingle(action="session-accept", timeout=15)
            await barry.event("CALL_ESTABLISHED")
            r = await u.send_jingle(BARRY, "session-terminate", sid,
                                    "<reason><success/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
        finally:
            u.disconnect()
    run(go(), timeout=50)


# ---- 3. in a call --------------------------------------------------------

async def rtp_gap(rtp, gap=0.5, timeout=5):
    """Wait until no RTP reached judy for gap seconds (the sender stopped)."""
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while True:
        assert loop.time() < end, "RTP still flowing %ss after the hold" % timeout
        try:
            await asyncio.wait_for(rtp.packets.get(), gap)
        except asyncio.TimeoutError:
            return


async def rtp_audio(rtp, pt=0, timeout=5):
    """The next audio packet (payload type pt) that reaches judy."""
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while True:
        left = end - loop.time()
        assert left > 0, "no RTP (pt %d) in %ss" % (pt, timeout)
        try:
            data = await asyncio.wait_for(rtp.packets.get(), left)
        except asyncio.TimeoutError:
            continue
        if len(data) >= 12 and data[1] & 0x7f == pt:
            return data


def test_in_call_dtmf_and_hold_both_ways(gateway, kam, barry, judy_user):
    """baresip calls judy; in the call:
    - baresip's DTMF is RFC 4733 (it has no INFO mode): the gateway carries
      telephone-event/8000 into the Jingle offer and judy's answer back, and
      the digit reaches judy's media address as telephone-event RTP;
    - judy's XEP-0181 <dtmf/> -> INFO application/dtmf-relay -> baresip
      reports the digit (CALL_DTMF_START);
    - baresip's hold/resume (re-INVITE sendonly/sendrecv through Kamailio)
      -> session-info <hold/> / <active/>;
    - judy's <hold/>/<active/> -> re-INVITE to baresip, which stops and
      restarts its RTP to judy."""
    async def go():
        u = await judy_linked(gateway, kam)
        rtp_tr, rtp, port = await rtp_socket()
        try:
            await barry.cmd("dial", JUDY_AOR)
            iq, j = await u.next_jingle(action="session-initiate", timeout=15)
            gw_jid, sid = iq["from"], j.get("sid")
            ans, te = answer_to(j, port)
            r = await u.send_jingle(gw_jid, "session-accept", sid, ans)
            assert r["type"] == "result"
            await barry.event("CALL_ESTABLISHED")
            await rtp_audio(rtp)  # baresip's audio reaches judy's address
            # baresip -> judy: RFC 4733 in the media, end bit on the last
            await barry.cmd("sndcode", "5")
            ev, end = await rtp.next_event(te)
            assert ev == 5
            while not end:
                ev, end = await rtp.next_event(te)
                assert ev == 5
            # judy -> baresip: XEP-0181 -> INFO dtmf-relay
            for code, dur in (("7", 160), ("#", 250)):
                r = await u.send_jingle(gw_jid, "session-info", sid,
                                        "<dtmf xmlns='%s' code='%s' duration='%d'/>"
                                        % (NS_DTMF, code, dur))
                assert r["type"] == "result"
                ev = await barry.event("CALL_DTMF_START")
                assert ev["param"] == code, ev
                await barry.log_line(r"call: received DTMF: '%s' \(duration=%d\)"
                                     % (re.escape(code), dur))
            # baresip holds and resumes: the next session-infos judy gets
            # (no DTMF session-info came from baresip's RTP digit)
            await barry.cmd("hold")
            _, j = await u.next_jingle(action="session-info")
            assert j.find("{%s}hold" % NS_RTP_INFO) is not None, ET.tostring(j)
            assert j.get("sid") == sid
            await barry.cmd("resume")
            _, j = await u.next_jingle(action="session-info")
            assert j.find("{%s}active" % NS_RTP_INFO) is not None, ET.tostring(j)
            # judy holds: baresip gets a re-INVITE and stops sending to her
            r = await u.send_jingle(gw_jid, "session-info", sid,
                                    "<hold xmlns='%s'/>" % NS_RTP_INFO)
            assert r["type"] == "result"
            await barry.log_line(r"call: got re-INVITE \(SDP Offer\)", 1)
            await rtp_gap(rtp)
            r = await u.send_jingle(gw_jid, "session-info", sid,
                                    "<active xmlns='%s'/>" % NS_RTP_INFO)
            assert r["type"] == "result"
            await barry.log_line(r"call: got re-INVITE \(SDP Offer\)", 2)
            await rtp_audio(rtp)
            assert sessions(gateway)[0]["state"] == "active"
            r = await u.send_jingle(gw_jid, "session-terminate", sid,
                                    "<reason><success/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
        finally:
            rtp_tr.close()
            u.disconnect()
    run(go(), timeout=50)


# ---- 4. judy offline: missed call ----------------------------------------

def test_call_while_offline_leaves_missed_call(gateway, kam, barry, judy_user):
    """judy linked, then went offline (no resource): baresip's call to her
    AOR reaches the gateway through Kamailio, is proposed (XEP-0353) to
    her bare JID, nobody answers: retract and 480 back to baresip. When
    judy comes online her server hands her the propose, the retract and a
    "Missed call" chat from barry's gateway JID naming baresip's AOR."""
    async def go():
        u = await judy_linked(gateway, kam)
        await accounts_logout(u)
        await until(lambda: not [p for p in json.loads(
            gateway.ctl("presence", "--json").stdout)["presence"]
            if p["jid"].startswith(JUDY + "/")], 10, "judy offline at the gateway")
        await barry.cmd("dial", JUDY_AOR)
        ev = await barry.event("CALL_CLOSED")
        assert "480" in ev.get("param", ""), ev
        log = kam.log()
        assert re.search(r"REQ INVITE from=barry .*AUTH ok user=barry", log), log[-3000:]
        assert re.search(r"LOOKUP judy -> sip:\S*127.0.0.1:5600", log), log[-3000:]
        await until(lambda: sessions(gateway) == [], 5, "call record removed")
        # judy comes online: her server hands her what came meanwhile
        u = accounts.AccountUser(JUDY + "/laptop", JUDY_PASS)
        jmi = []
        u.register_handler(Callback("jmi", MatchXPath(
            "{jabber:client}message/{%s}*" % NS_JMI), lambda m: jmi.extend(
                (m["from"].bare, c.tag.split("}")[1], c.get("id"))
                for c in m.xml if c.tag.startswith("{%s}" % NS_JMI))))
        u.connect(("127.0.0.1", 5222), use_ssl=False, force_starttls=False,
                  disable_starttls=True)
        try:
            await asyncio.wait_for(u.started, 10)
            m = await u.next_message(match=lambda m: m["body"].startswith("Missed call"))
            assert "sip:barry@127.0.0.1" in m["body"], m["body"]
            caller = m["from"].bare
            assert caller.startswith("barry") and caller.endswith("@" + accounts.COMPONENT)
            # the XEP-0353 propose nobody answered, and its retract
            await until(lambda: len(jmi) >= 2, 5, "propose and retract")
            (f1, a1, id1), (f2, a2, id2) = jmi[:2]
            assert (a1, a2) == ("propose", "retract") and id1 == id2, jmi
            assert f1 == f2 == caller, jmi
        finally:
            u.disconnect()
    run(go(), timeout=50)


# ---- unanswered calls both ways ----------------------------------------------

def test_unanswered_calls_cancel_and_reject(gateway, kam, barry, judy_user):
    """judy cancels while baresip rings (CANCEL of the authenticated INVITE
    through Kamailio) -> baresip closes the call; baresip rejects judy's
    call (486) -> judy gets session-terminate <decline/>; baresip cancels
    its call while judy's resource rings -> session-terminate and a
    "Missed call" chat from barry's gateway JID."""
    async def go():
        u = await judy_linked(gateway, kam)
        try:
            # judy cancels
            sid = "jc" + uuid.uuid4().hex[:10]
            r = await u.send_jingle(BARRY, "session-initiate", sid, audio(41000))
            assert r["type"] == "result"
            await barry.event("CALL_INCOMING")
            _, j = await u.next_jingle(action="session-info")
            assert j.find("{%s}ringing" % NS_RTP_INFO) is not None
            r = await u.send_jingle(BARRY, "session-terminate", sid,
                                    "<reason><cancel/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
            await until(lambda: re.search(r"REQ CANCEL from=judy", kam.log()), 5,
                        "CANCEL through Kamailio")
            await until(lambda: re.search(r"RPL 487 .* for INVITE", kam.log()), 5,
                        "487 from baresip")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
            # baresip rejects
            sid = "jr" + uuid.uuid4().hex[:10]
            r = await u.send_jingle(BARRY, "session-initiate", sid, audio(41000))
            assert r["type"] == "result"
            await barry.event("CALL_INCOMING")
            await barry.cmd("hangup")
            _, t = await u.next_jingle(action="session-terminate")
            assert t.get("sid") == sid
            m = re.search(r"RPL ([4-6]\d\d) .* for INVITE from 127.0.0.1:%d" % BARESIP_PORT,
                          kam.log().split("REQ INVITE from=judy")[-1])
            assert m, kam.log()[-2000:]
            # baresip answers 486; the gateway maps it to <decline/>
            assert m.group(1) == "486", m.group(0)
            assert reason_of(t)[0] == "decline", ET.tostring(t)
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
            # baresip cancels while judy rings
            await barry.cmd("dial", JUDY_AOR)
            iq, j = await u.next_jingle(action="session-initiate", timeout=15)
            await barry.cmd("hangup")
            _, t = await u.next_jingle(action="session-terminate")
            assert t.get("sid") == j.get("sid")
            m = await u.next_message(match=lambda m: m["body"].startswith("Missed call"))
            assert "sip:barry@127.0.0.1" in m["body"], m["body"]
            assert m["from"].bare == j.get("initiator")
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
        finally:
            u.disconnect()
    run(go(), timeout=50)


# ---- 5. calling back, replying ---------------------------------------------

class GatewayBug(AssertionError):
    """A linked user cannot call back or answer a SIP user of her account's
    own domain (fixed: through her account's proxy any host is allowed)."""

def test_call_back_the_callers_jid(gateway, kam, barry, judy_user):
    """barry calls judy, she declines; she calls back the JID the call came
    from (its initiator): the INVITE should reach baresip From judy's AOR,
    as a call to barry@sip.localhost does."""
    async def go():
        u = await judy_linked(gateway, kam)
        try:
            await barry.cmd("dial", JUDY_AOR)
            iq, j = await u.next_jingle(action="session-initiate", timeout=15)
            caller = j.get("initiator")
            assert iq["from"].bare == caller
            r = await u.send_jingle(caller, "session-terminate", j.get("sid"),
                                    "<reason><decline/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
            await until(lambda: sessions(gateway) == [], 5, "session removed")
            sid = "cb" + uuid.uuid4().hex[:10]
            r = await u.send_jingle(caller, "session-initiate", sid, audio(41000))
            if r["type"] != "result":
                raise GatewayBug("call back %s refused: %s" % (caller, r))
            ev = await barry.event("CALL_INCOMING")
            assert ev.get("peeruri", "").startswith(JUDY_AOR), ev
            r = await u.send_jingle(caller, "session-terminate", sid,
                                    "<reason><cancel/></reason>")
            assert r["type"] == "result"
            await barry.event("CALL_CLOSED")
        finally:
            u.disconnect()
    run(go(), timeout=50)


# ---- 6. chats through the account --------------------------------------------

def test_chats_both_ways_through_the_account(gateway, kam, barry, judy_user):
    """judy's chat to barry@sip.localhost -> MESSAGE From judy's AOR through
    Kamailio (407 answered) -> baresip prints it; baresip's MESSAGE to
    judy's AOR (Kamailio -> the gateway's Contact) -> a chat to judy."""
    async def go():
        u = await judy_linked(gateway, kam)
        try:
            text = "hello barry " + uuid.uuid4().hex[:6]
            u.send_message(mto=BARRY, mbody=text, mtype="chat")
            await barry.log_line(r'%s: "%s"' % (re.escape(JUDY_AOR), text))
            log = kam.log()
            assert re.search(r"REQ MESSAGE from=judy .*AUTH challenge 407", log), log[-3000:]
            assert re.search(r"REQ MESSAGE from=judy .*AUTH ok user=judy", log), log[-3000:]
            text = "hello judy " + uuid.uuid4().hex[:6]
            await barry.cmd("message", text)
            m = await u.next_message(match=lambda m: m["body"] == text)
            assert m["type"] == "chat"
            assert str(m["to"]).startswith(JUDY)
            assert m["from"].bare.startswith("barry")
            assert m["from"].bare.endswith("@" + accounts.COMPONENT)
            log = kam.log()
            assert re.search(r"REQ MESSAGE from=barry .*AUTH ok user=barry", log), log[-3000:]
            assert re.search(r"LOOKUP judy -> sip:\S*127.0.0.1:5600", log), log[-3000:]
        finally:
            u.disconnect()
    run(go(), timeout=50)


def test_reply_to_a_chat_from_baresip(gateway, kam, barry, judy_user):
    async def go():
        u = await judy_linked(gateway, kam)
        try:
            text = "ping " + uuid.uuid4().hex[:6]
            await barry.cmd("message", text)
            m = await u.next_message(match=lambda m: m["body"] == text)
            reply = "pong " + uuid.uuid4().hex[:6]
            u.send_message(mto=m["from"].bare, mbody=reply, mtype="chat")
            # whichever comes first: baresip prints it, or it bounces
            loop = asyncio.get_event_loop()
            end = loop.time() + 10
            want = '%s: "%s"' % (JUDY_AOR, reply)
            while want not in barry.log():
                assert loop.time() < end, "reply not at baresip"
                try:
                    b = await u.next_message(timeout=0.1, match=lambda m: m["type"] == "error")
                    raise GatewayBug("reply to %s bounced: %s" % (m["from"].bare, b))
                except asyncio.TimeoutError:
                    pass
        finally:
            u.disconnect()
    run(go(), timeout=50)
