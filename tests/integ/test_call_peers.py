"""Calls with real SIP peers: SIPp as phone (both directions) and baresip
(both directions); the Jingle the gateway writes from a real peer's SDP
converts back with a real client library (stanza, from npm)."""
import asyncio
import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import GW_SIP, PEERS, ROOT, run, uas_args
from jingle import GW, jlogin, q, reason_of
from test_call import online, sessions, until
from xmpp_user import logout

def sipp_log(s):
    """Everything SIPp logged (-trace_logs): bodies span several lines."""
    out = ""
    for fn in os.listdir(s.dir):
        if fn.endswith("_logs.log"):
            with open(os.path.join(s.dir, fn), errors="replace") as f:
                out += f.read()
    return out


JS = os.path.join(ROOT, "tests", "js")


# one audio content, small enough for a UDP INVITE
AUDIO = """
<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' senders='both'>
 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
  <payload-type id='0' name='PCMU' clockrate='8000'/>
  <payload-type id='101' name='telephone-event' clockrate='8000'/>
 </description>
 <transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>
  <candidate id='r1' component='1' generation='0' ip='127.0.0.1' port='41000'/>
 </transport>
</content>"""

ANSWER = AUDIO.replace("41000", "42000")


def test_xmpp_calls_sipp(gateway, sipp):
    uas = sipp("uas_call.xml", uas_args() + ["-mp", "16000", "-m", "1"], "uas")

    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "sp" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid, AUDIO)
        assert r["type"] == "result"
        _, j = await alice.next_jingle(action="session-info")
        assert j.find("{urn:xmpp:jingle:apps:rtp:info:1}ringing") is not None
        _, j = await alice.next_jingle(action="session-accept")
        c = j.find(q("content"))
        pts = c.findall(".//{urn:xmpp:jingle:apps:rtp:1}payload-type")
        assert [(p.get("id"), p.get("name")) for p in pts] == [("0", "PCMU")]
        # sip.phone_transport is ice by default: a host candidate
        cand = c.find(".//{urn:xmpp:jingle:transports:ice-udp:1}candidate")
        assert cand is not None and cand.get("port") == "16000"
        await until(lambda: sessions(gateway) and sessions(gateway)[0]["state"] == "active",
                    5, "active")
        r = await alice.send_jingle("bob@" + GW, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        rc = await asyncio.get_event_loop().run_in_executor(None, uas.wait, 15)
        assert rc == 0, "sipp uas failed"
        sdp = sipp_log(uas)
        assert "m=audio 41000 RTP/AVP 0 101" in sdp and "c=IN IP4 127.0.0.1" in sdp
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
    run(go())


def test_sipp_calls_xmpp(gateway, sipp):
    async def go():
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        uac = sipp("uac_call.xml",
                   ["-s", "alice", "-key", "domain", "localhost", GW_SIP,
                    "-p", "5071", "-mp", "17000", "-m", "1", "-timeout", "20s", "-trace_msg",
                    "-timeout_error"], "uac")
        iq, j = await alice.next_jingle(action="session-initiate")
        c = j.find(q("content"))
        pts = c.findall(".//{urn:xmpp:jingle:apps:rtp:1}payload-type")
        assert [p.get("id") for p in pts] == ["0", "101"]
        r = await alice.send_jingle(iq["from"], "session-accept", j.get("sid"), ANSWER)
        assert r["type"] == "result"
        _, t = await alice.next_jingle(action="session-terminate", timeout=15)
        assert reason_of(t)[0] == "success"
        rc = await asyncio.get_event_loop().run_in_executor(None, uac.wait, 20)
        assert rc == 0, "sipp uac failed"
        assert "m=audio 42000 RTP/AVP 0" in sipp_log(uac)
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        await logout(alice)
    run(go())


# ---- baresip ------------------------------------------------------------

BARESIP_PORT = 5080
BARESIP_CTRL = 4444


@pytest.fixture
def baresip(tmp_path):
    """A headless baresip (Debian baresip-core) as SIP user 'bob' on
    127.0.0.1:5080, auto-answer, with the gateway as outbound proxy."""
    d = str(tmp_path / "baresip")
    env = dict(os.environ, BARESIP_USER="bob", BARESIP_SIP_PORT=str(BARESIP_PORT),
               BARESIP_CTRL_PORT=str(BARESIP_CTRL),
               BARESIP_EXTRA_ACCOUNT_PARAMS=';outbound="sip:%s"' % GW_SIP)
    r = subprocess.run([os.path.join(PEERS, "baresip_start.sh"), d], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    yield d
    subprocess.run([os.path.join(PEERS, "baresip_stop.sh"), d],
                   capture_output=True, timeout=30)


def ctrl():
    sys.path.insert(0, PEERS)
    from baresip_ctrl import BaresipCtrl
    return BaresipCtrl(BARESIP_CTRL)


def wait_event(c, types, timeout=15):
    """Blocking: run in an executor. Returns the event's dict."""
    return c.wait_event(types, timeout)


def stanza_to_sdp(xml):
    """stanza (npm): the session-initiate/accept XML -> SDP, as a browser
    client using stanza would see it."""
    r = subprocess.run(["node", os.path.join(JS, "jingle_to_sdp.js")], input=xml,
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, NODE_PATH=os.path.join(JS, "node_modules")))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_xmpp_calls_baresip(gateway_factory, baresip):
    """baresip must accept the SDP the gateway writes (200, not 488)."""
    gw = gateway_factory(sip={"domain": '"127.0.0.1:%d"' % BARESIP_PORT})

    async def go():
        loop = asyncio.get_event_loop()
        c = ctrl()
        alice = await jlogin("alice@localhost/phone", "alicepass")
        sid = "bs" + uuid.uuid4().hex[:10]
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid, AUDIO)
        assert r["type"] == "result"
        _, j = await alice.next_jingle(action="session-accept", timeout=15)
        assert j.get("sid") == sid
        ev = await loop.run_in_executor(None, wait_event, c, ["CALL_ESTABLISHED"])
        assert ev["type"] == "CALL_ESTABLISHED"
        r = await alice.send_jingle("bob@" + GW, "session-terminate", sid,
                                    "<reason><success/></reason>")
        assert r["type"] == "result"
        await loop.run_in_executor(None, wait_event, c, ["CALL_CLOSED"])
        await until(lambda: sessions(gw) == [], 5, "session removed")
        c.close()
        await logout(alice)
    run(go())


def test_baresip_calls_xmpp(gateway, baresip):
    """baresip's offer becomes a session-initiate that stanza (npm) turns
    back into an SDP with baresip's media; the XMPP answer reaches baresip;
    baresip hangs up."""
    async def go():
        loop = asyncio.get_event_loop()
        c = ctrl()
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        await online(gateway, "alice@localhost/phone")
        r = await loop.run_in_executor(None, c.command, "dial", "sip:alice@localhost")
        iq, j = await alice.next_jingle(action="session-initiate", timeout=15)
        xml = ET.tostring(iq.xml, encoding="unicode")
        sdp = stanza_to_sdp(xml)
        assert "m=audio" in sdp
        offer = sessions(gateway)[0]
        shown = json.loads(gateway.ctl("show", str(offer["id"]), "--json").stdout)
        port = [l for l in shown["remote_sdp"].splitlines() if l.startswith("m=audio")][0].split()[1]
        # baresip's RTP address is the host candidate stanza writes back
        assert " 127.0.0.1 %s typ host" % port in sdp, sdp
        for pt in ("PCMU/8000", "opus/48000"):
            assert pt in sdp and pt in shown["remote_sdp"]
        r = await alice.send_jingle(iq["from"], "session-accept", j.get("sid"), ANSWER)
        assert r["type"] == "result"
        await loop.run_in_executor(None, wait_event, c, ["CALL_ESTABLISHED"])
        await loop.run_in_executor(None, c.command, "hangup")
        _, t = await alice.next_jingle(action="session-terminate", timeout=15)
        assert reason_of(t)[0] == "success"
        await until(lambda: sessions(gateway) == [], 5, "session removed")
        c.close()
        await logout(alice)
    run(go())
