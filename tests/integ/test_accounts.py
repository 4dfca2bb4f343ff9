"""SIP accounts for XMPP users (SPEC §6.2, issue 11): XEP-0077 linking,
digest REGISTER, refresh, presence and notices from the gateway's JID,
and survival of kill -9 — against SIPp registrars and Kamailio."""
import asyncio
import json
import os
import subprocess
import uuid

import pytest

import accounts
from conftest import SIPP, run, wait_for

REG_PORT = 5140


async def known_online(gw, jid, timeout=10):
    """The gateway has seen jid's presence: a call now rings it."""
    end = asyncio.get_event_loop().time() + timeout
    while jid not in [p["jid"] for p in json.loads(
            gw.ctl("presence", "--json").stdout)["presence"]]:
        assert asyncio.get_event_loop().time() < end, jid + " not online"
        await asyncio.sleep(0.05)


def registrations(gw):
    return json.loads(gw.ctl("registrations", "--json").stdout)


def challenge_args(granted=300, user="alice", password="alicepw", port=REG_PORT):
    return ["-p", str(port), "-m", "1", "-key", "user", user, "-key",
            "password", password, "-key", "granted", str(granted),
            "-timeout", "60s"]


def test_register_form(gateway):
    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            q = await u.get_form()
            ns = "{%s}" % accounts.NS_REG
            assert q.find(ns + "instructions") is not None
            assert q.find(ns + "username") is not None
            assert q.find(ns + "password") is not None
            assert q.find(ns + "registered") is None
            x = q.find("{%s}x" % accounts.NS_X)
            assert x is not None and x.get("type") == "form"
            fields = {f.get("var"): f.get("type") for f in x}
            for var, typ in (("username", "text-single"),
                             ("password", "text-private"),
                             ("ha1", "text-private"),
                             ("auth_user", "text-single"),
                             ("proxy", "text-single"),
                             ("display_name", "text-single"),
                             ("expires", "text-single"),
                             ("srtp", "list-single"),
                             ("FORM_TYPE", "hidden")):
                assert fields.get(var) == typ, (var, fields)
        finally:
            u.disconnect()
    run(go())


@pytest.mark.parametrize("fields,text", [
    ({"username": "", "password": "x"}, "required"),
    ({"username": "sip:al ice@127.0.0.1", "password": "x"}, "SIP address"),
    ({"username": "alice@127.0.0.1"}, "password"),
    ({"username": "alice@127.0.0.1", "password": "x", "proxy": "exa_mple.org"}, "DNS name"),
    ({"username": "alice@127.0.0.1", "password": "x", "proxy": "127.0.0.1;transport=tls"}, "not supported"),
    ({"username": "alice@127.0.0.1", "password": "x", "expires": "0"}, "expires"),
    ({"username": "alice@example.org", "password": "x", "proxy": "example.org:x"}, "DNS name"),
    ({"username": "alice@127.0.0.1", "password": "x", "srtp": "dtls"}, "srtp"),
])
def test_link_bad_request(gateway, fields, text):
    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, etext = await u.link(fields)
            assert cond == "bad-request"
            assert text in (etext or ""), etext
        finally:
            u.disconnect()
    run(go())
    assert registrations(gateway) == []


def test_link_challenged_md5_then_remove(gateway, sipp):
    reg = sipp("uas_register_challenge.xml", challenge_args(), "registrar")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            r, cond, text = await u.link({
                "username": "sip:alice@127.0.0.1", "password": "alicepw",
                "proxy": "127.0.0.1:%d" % REG_PORT})
            assert cond is None, (cond, text)
            sub = await u.next_gw_presence(match=lambda p: p["type"] == "subscribe")
            assert sub["to"].bare == "dave@localhost"
            avail = await u.next_gw_presence(match=lambda p: p["type"] == "available")
            assert "sip:alice@127.0.0.1" in avail["status"]
            assert reg.wait(15) == 0
            regs = registrations(gateway)
            assert len(regs) == 1
            r0 = regs[0]
            assert r0["jid"] == "dave@localhost"
            assert r0["aor"] == "sip:alice@127.0.0.1"
            assert r0["state"] == "registered"
            assert r0["last_code"] == 200
            assert 0 < r0["expires_in"] <= 300
            out = gateway.ctl("registrations").stdout + gateway.ctl("dump").stdout
            assert "alicepw" not in out
            q = await u.get_form()
            assert q.find("{%s}registered" % accounts.NS_REG) is not None
            assert "alicepw" not in str(q)
            # remove: un-REGISTER; the SIPp registrar is gone, so the
            # record goes after the transaction fails
            _, cond, _ = await u.unlink()
            assert cond is None
            await u.next_gw_presence(match=lambda p: p["type"] == "unavailable")
        finally:
            u.disconnect()
    run(go())
    wait_for(lambda: registrations(gateway) == [], 15, "registration removed")
    assert "alicepw" not in gateway.read_log()


def test_link_wrong_password_not_authorized(gateway, sipp):
    reg = sipp("uas_register_challenge.xml", challenge_args(password="right"), "registrar")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, text = await u.link({
                "username": "alice@127.0.0.1", "password": "wrong",
                "proxy": "127.0.0.1:%d" % REG_PORT})
            assert cond == "not-authorized", (cond, text)
            assert "403" in text
        finally:
            u.disconnect()
    run(go())
    assert registrations(gateway) == []
    reg.stop()


def test_link_unreachable_and_silent_registrar(gateway):
    import socket
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", REG_PORT + 1))

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, text = await u.link({
                "username": "alice@127.0.0.1", "password": "x",
                "proxy": "127.0.0.1:%d" % (REG_PORT + 2)})
            assert cond == "remote-server-not-found", (cond, text)
            _, cond, text = await u.link({
                "username": "alice@127.0.0.1", "password": "x",
                "proxy": "127.0.0.1:%d" % (REG_PORT + 1)}, timeout=30)
            assert cond == "remote-server-timeout", (cond, text)
        finally:
            u.disconnect()
    try:
        run(go())
    finally:
        silent.close()
    assert registrations(gateway) == []


# ---- Kamailio as the digest registrar and proxy ------------------------

import re
import subprocess
import tempfile
import uuid

import jingle
from conftest import PEERS

KAM_PORT = 5160
BOB_PORT = 5070


class Kamailio:
    def __init__(self, **env):
        self.dir = tempfile.mkdtemp(prefix="xsgw-kam-")
        e = dict(os.environ, SIP_PORT=str(KAM_PORT),
                 KAM_USERS="alice:alicepw bob:bobpw carol:carolpw")
        e.update({k: str(v) for k, v in env.items()})
        r = subprocess.run([os.path.join(PEERS, "kam_auth_start.sh"), self.dir],
                           env=e, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout

    def log(self):
        with open(os.path.join(self.dir, "kamailio.log"), errors="replace") as f:
            return f.read()

    def saved(self, user):
        """Granted expiries of the REGISTERs of user Kamailio saved."""
        return [int(g) for g in re.findall(
            r"REGISTER saved aor=%s granted=(\d+)" % user, self.log())]

    def bindings(self, user):
        r = subprocess.run(["kamcmd", "-s", "unix:%s/kamailio_ctl" % self.dir,
                            "ul.dump"], capture_output=True, text=True, timeout=10)
        out, cur = [], None
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("AoR: "):
                cur = line[5:].split("@")[0]
            elif line.startswith("Address: ") and cur == user:
                out.append(line[9:])
        return out

    def stop(self):
        subprocess.run([os.path.join(PEERS, "kamailio_stop.sh"), self.dir],
                       capture_output=True, timeout=30)


@pytest.fixture
def kamailio():
    made = []

    def start(**env):
        k = Kamailio(**env)
        made.append(k)
        return k
    yield start
    for k in made:
        k.stop()


ACCOUNT = {"username": "sip:alice@127.0.0.1", "password": "alicepw",
           "proxy": "127.0.0.1:%d" % KAM_PORT}


def register_bob(sipp):
    """bob registers at Kamailio from 127.0.0.1:BOB_PORT (SIPp, digest)."""
    s = sipp("uac_register_auth.xml",
             ["-s", "bob", "-au", "bob", "-ap", "bobpw", "-p", str(BOB_PORT),
              "-m", "1", "-timeout", "10s", "127.0.0.1:%d" % KAM_PORT], "bobreg")
    assert s.wait(15) == 0


def test_kamailio_link_refused_then_accepted_refresh_and_remove(gateway, kamailio):
    kam = kamailio(KAM_MAX_EXPIRES=4)

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, text = await u.link(dict(ACCOUNT, password="nope"))
            assert cond == "not-authorized", (cond, text)
            assert kam.bindings("alice") == []
            assert registrations(gateway) == []
            _, cond, text = await u.link(ACCOUNT)
            assert cond is None, (cond, text)
            await u.next_gw_presence(match=lambda p: p["type"] == "available")
            b = kam.bindings("alice")
            assert len(b) == 1 and "127.0.0.1:5600" in b[0]
            # the registrar granted 4 s (asked 3600): refreshed in time
            assert kam.saved("alice")[0] == 4
            wait_for(lambda: len(kam.saved("alice")) >= 3, 15, "two refreshes")
            assert set(kam.saved("alice")) == {4}
            r = registrations(gateway)[0]
            assert r["state"] in ("registered", "refreshing") and r["failures"] == 0
            _, cond, _ = await u.unlink()
            assert cond is None
            await u.next_gw_presence(match=lambda p: p["type"] == "unavailable")
            wait_for(lambda: kam.bindings("alice") == [], 10, "binding removed")
            wait_for(lambda: registrations(gateway) == [], 10, "account removed")
            assert "expires=0" in kam.log() or "expires=0" in kam.log().lower()
        finally:
            u.disconnect()
    run(go())
    assert "alicepw" not in gateway.read_log()


@pytest.mark.parametrize("worker", ["translator", "sip-front", "xmpp-front"])
def test_kamailio_registration_survives_kill9(gateway, kamailio, worker):
    kam = kamailio(KAM_MAX_EXPIRES=4)

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, text = await u.link(ACCOUNT)
            assert cond is None, (cond, text)
        finally:
            u.disconnect()
    run(go())
    n = len(kam.saved("alice"))
    for _ in range(3):
        gateway.kill9(worker)
        # refreshed on time afterwards: the binding never lapses
        n += 1
        wait_for(lambda: len(kam.saved("alice")) >= n, 10, "refresh after kill")
        assert kam.bindings("alice")
    assert registrations(gateway)[0]["failures"] == 0

    async def call_in():
        # and a call to the AOR still reaches the user
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        peer = await jingle.SipPeer.start(BOB_PORT)
        try:
            d = peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                            "sip:carol@example.org", "sip:alice@127.0.0.1",
                            dst=("127.0.0.1", KAM_PORT))
            try:
                await u.next_jingle(action="session-initiate")
            except asyncio.TimeoutError:
                raise AssertionError("no call: kamailio:\n%s\ngateway:\n%s" % (
                    kam.log()[-3000:], gateway.read_log()[-3000:]))
            peer.cancel(d)
            await u.next_jingle(action="session-terminate")
        finally:
            u.disconnect()
            peer.close()
    run(call_in())


def test_kamailio_registration_survives_full_restart(gateway_factory, kamailio):
    kam = kamailio(KAM_MAX_EXPIRES=4)
    gw = gateway_factory()

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
        finally:
            u.disconnect()
    run(go())
    gw.stop()
    n = len(kam.saved("alice"))
    gw.start()
    wait_for(lambda: len(kam.saved("alice")) >= n + 2, 15, "refreshes after restart")
    assert len(registrations(gw)) == 1


def test_kamailio_call_out_through_account_with_407(gateway, kamailio, sipp):
    kam = kamailio()
    register_bob(sipp)

    async def go():
        peer = await jingle.SipPeer.start(BOB_PORT)
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            sid = "s" + uuid.uuid4().hex[:12]
            r = await u.send_jingle("bob@" + accounts.COMPONENT,
                                    "session-initiate", sid, jingle.CONTENTS)
            assert r["type"] == "result"
            inv = await peer.next_request("INVITE")
            assert "sip:alice@127.0.0.1" in jingle.hdr(inv, "From")
            assert jingle.cseq(inv) == (2, "INVITE")
            assert jingle.hdr(inv, "Call-ID") == sid
            log = kam.log()
            assert re.search(r"REQ INVITE from=alice .*AUTH challenge 407", log), log[-3000:]
            assert re.search(r"REQ INVITE from=alice .*AUTH ok user=alice", log)
            peer.reply(inv, 200, "OK", sdp=jingle.PHONE_SDP)
            await u.next_jingle(action="session-accept")
            r = await u.send_jingle("bob@" + accounts.COMPONENT,
                                    "session-terminate", sid,
                                    "<reason><success/></reason>")
            bye = await peer.next_request("BYE")
            peer.reply(bye, 200, "OK")
        finally:
            u.disconnect()
            peer.close()
    run(go())


def test_kamailio_account_srtp_policy(gateway, kamailio, sipp):
    """The account's srtp setting (Janus's sdes_optional/sdes_mandatory):
    mandatory refuses a call without keys both ways (not-acceptable; 488)
    and puts offered keys on RTP/SAVP; optional puts required keys on
    RTP/AVP (best effort). The form shows the setting."""
    from test_call_features import srtp_offer
    kam = kamailio()
    register_bob(sipp)

    async def call_out(u, peer, offer):
        sid = "p" + uuid.uuid4().hex[:12]
        r = await u.send_jingle("bob@" + accounts.COMPONENT,
                                "session-initiate", sid, offer)
        return sid, r

    async def go():
        peer = await jingle.SipPeer.start(BOB_PORT)
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        try:
            _, cond, _ = await u.link(dict(ACCOUNT, srtp="sdes_mandatory"))
            assert cond is None
            q = await u.get_form()
            f = [f for f in q.find("{%s}x" % accounts.NS_X)
                 if f.get("var") == "srtp"][0]
            assert f.find("{%s}value" % accounts.NS_X).text == "sdes_mandatory"
            assert sorted(o.find("{%s}value" % accounts.NS_X).text
                          for o in f.findall("{%s}option" % accounts.NS_X)) == \
                ["sdes_mandatory", "sdes_optional", "session"]
            shown = json.loads(gateway.ctl(
                "show", str(registrations(gateway)[0]["id"]), "--json").stdout)
            assert shown["srtp"] == "sdes_mandatory"
            # no keys: refused before anything goes to SIP
            sid, r = await call_out(u, peer, jingle.CONTENTS)
            assert r["type"] == "error"
            assert r["error"]["condition"] == "not-acceptable", str(r)
            assert "SRTP" in r["error"]["text"]
            # offered keys: required on RTP/SAVP
            sid, r = await call_out(u, peer, srtp_offer(False))
            assert r["type"] == "result"
            inv = await peer.next_request("INVITE")
            sdp = jingle.body(inv)
            assert "m=audio 41000 RTP/SAVP 0\r\n" in sdp and "a=crypto:1 " in sdp
            peer.reply(inv, 488, "Not Acceptable Here")
            await u.next_jingle(action="session-terminate")
            # an incoming call without keys: 488, nobody rung
            d = peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                            "sip:carol@example.org", "sip:alice@127.0.0.1",
                            dst=("127.0.0.1", KAM_PORT))
            code, resp = await peer.next_response("INVITE", final=True)
            assert code == 488 and "SRTP" in resp.split("\r\n")[0], resp
            peer.ack(d, jingle.tag_of(jingle.hdr(resp, "To")), branch=d["branch"])
            with pytest.raises(asyncio.TimeoutError):
                await u.next_jingle(action="session-initiate", timeout=1)
            # an incoming call with keys, answered without: the answer is
            # refused, the caller hears 488 at once, the user's session
            # ends (security-error)
            from test_call_features import SRTP_ANSWER
            d = peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                            "sip:carol@example.org", "sip:alice@127.0.0.1",
                            sdp=SRTP_ANSWER, dst=("127.0.0.1", KAM_PORT))
            _, j = await u.next_jingle(action="session-initiate", timeout=10)
            r = await u.send_jingle(j.get("initiator").split("/")[0],
                                    "session-accept", j.get("sid"),
                                    jingle.ANSWER)
            assert r["type"] == "error"
            assert r["error"]["condition"] == "not-acceptable", str(r)
            code, resp = await peer.next_response("INVITE", final=True)
            assert code == 488, resp
            peer.ack(d, jingle.tag_of(jingle.hdr(resp, "To")), branch=d["branch"])
            _, t = await u.next_jingle(action="session-terminate", timeout=10)
            assert t.find(".//{urn:xmpp:jingle:1}security-error") is not None

            _, cond, _ = await u.link(dict(ACCOUNT, srtp="sdes_optional"))
            assert cond is None
            sid, r = await call_out(u, peer, srtp_offer(True))
            assert r["type"] == "result"
            inv = await peer.next_request("INVITE")
            sdp = jingle.body(inv)
            assert "m=audio 41000 RTP/AVP 0\r\n" in sdp and "a=crypto:1 " in sdp
            peer.reply(inv, 486, "Busy Here")
            await u.next_jingle(action="session-terminate")
        finally:
            u.disconnect()
            peer.close()
    run(go())


def test_kamailio_call_in_to_account_rings_and_missed(gateway, kamailio, sipp):
    kam = kamailio()

    async def go():
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        peer = await jingle.SipPeer.start(BOB_PORT)
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            # carol (not a local user of Kamailio's domain: not challenged)
            d = peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                            "sip:carol@example.org", "sip:alice@127.0.0.1",
                            dst=("127.0.0.1", KAM_PORT))
            _, j = await u.next_jingle(action="session-initiate")
            assert "carol" in j.get("initiator")
            peer.cancel(d)
            await u.next_jingle(action="session-terminate")
            m = await u.next_message(match=lambda m: m["body"].startswith("Missed call"))
            assert "carol@example.org" in m["body"]
            assert m["from"].bare.endswith("@" + accounts.COMPONENT)
        finally:
            u.disconnect()
            peer.close()
    run(go())


def test_kamailio_chat_both_ways_through_account(gateway, kamailio, sipp):
    kam = kamailio()
    register_bob(sipp)

    async def go():
        peer = await jingle.SipPeer.start(BOB_PORT)
        u = await accounts.login("dave@localhost/phone", "davepass")
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            u.send_message(mto="bob@" + accounts.COMPONENT, mbody="hi bob", mtype="chat")
            m = await peer.next_request("MESSAGE")
            assert "sip:alice@127.0.0.1" in jingle.hdr(m, "From")
            assert jingle.body(m) == "hi bob"
            assert jingle.cseq(m)[0] == 2
            assert re.search(r"REQ MESSAGE from=alice .*AUTH ok user=alice", kam.log())
            peer.reply(m, 200, "OK")
        finally:
            u.disconnect()
            peer.close()
    run(go())


def _reg_log(s):
    out = []
    for fn in os.listdir(s.dir):
        if fn.endswith("_logs.log") or fn == "reg.log":
            with open(os.path.join(s.dir, fn), errors="replace") as f:
                out += [l for l in f.read().splitlines() if l.startswith("REG ")]
    return out


@pytest.mark.parametrize("cred,alg", [({"password": "alicepw"}, "SHA-256"),
                                      ({"password": "", "ha1": None}, "MD5")])
def test_link_sha256_preferred_ha1_is_md5(gateway, sipp, cred, alg):
    """RFC 8760: with the password the SHA-256 challenge is answered; with
    only a stored HA1 (MD5 by definition) the MD5 one."""
    import hashlib
    if "ha1" in cred:
        cred = {"password": "", "ha1": hashlib.md5(
            b"alice:sipp.test:alicepw").hexdigest().upper()}
    reg = sipp("uas_register_sha256.xml", challenge_args(), "registrar")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            f = {"username": "alice@127.0.0.1",
                 "proxy": "127.0.0.1:%d" % REG_PORT}
            f.update({k: v for k, v in cred.items() if v})
            _, cond, text = await u.link(f)
            assert cond is None, (cond, text)
        finally:
            u.disconnect()
    run(go())
    assert reg.wait(15) == 0
    assert any(("REG 200" in l and "algorithm=" + alg in l) for l in _reg_log(reg)), _reg_log(reg)


def test_kamailio_sha256_and_ha1(gateway, kamailio):
    import hashlib
    kam = kamailio(KAM_AUTH_ALGORITHM="SHA-256")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, text = await u.link(ACCOUNT)
            assert cond is None, (cond, text)
            assert kam.bindings("alice")
            ok = kam.log().count("AUTH ok user=alice")
            # an HA1 cannot answer SHA-256 only: refused, not sent wrong;
            # the working password stays (registered with it again)
            ha1 = hashlib.md5(b"alice:127.0.0.1:alicepw").hexdigest()
            _, cond, text = await u.link({"username": ACCOUNT["username"],
                                          "ha1": ha1, "proxy": ACCOUNT["proxy"]})
            assert cond == "not-authorized", (cond, text)
            assert "previous settings are kept" in text
            wait_for(lambda: kam.log().count("AUTH ok user=alice") > ok, 10,
                     "registered again with the kept password")
            # Kamailio logs before its 200 reaches the gateway's store
            wait_for(lambda: registrations(gateway)[0]["state"] == "registered",
                     10, "the registration stored as registered")
        finally:
            u.disconnect()
    run(go())


def test_kamailio_refresh_refused_not_retried(gateway, kamailio):
    """The registrar stops accepting the password (changed there): the
    refresh is refused, the user told once to link again, and the refused
    credentials are not tried again (a registrar may lock the account)."""
    kam = kamailio(KAM_MAX_EXPIRES=4)

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            r = subprocess.run(["kamcmd", "-s", "unix:%s/kamailio_ctl" % kam.dir,
                                "htable.sets", "pw", "alice", "changed"],
                               capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            m = await u.next_message(match=lambda m: "refused" in m["body"],
                                     timeout=15)
            assert "link the account again" in m["body"]
            p = await u.next_gw_presence(match=lambda p: p["type"] == "unavailable")
            assert p["status"].startswith(("401", "403", "407")), p["status"]
            n = kam.log().count("REQ REGISTER")
            # a refresh was due every 3.6 s: none comes any more
            await asyncio.sleep(6)
            assert kam.log().count("REQ REGISTER") == n
            assert registrations(gateway)[0]["state"] == "failed"
            more = await u.drain(1, 1, match=lambda m: "refused" in m["body"])
            assert more == []
        finally:
            u.disconnect()
    run(go())


@pytest.mark.parametrize("worker", ["translator", "sip-front"])
def test_kill9_while_register_challenged(gateway_factory, sipp, worker):
    """The 401 reaches the sip-front while the translator is stopped; the
    worker is killed; the REGISTER is answered and the IQ still gets its
    result (point 8)."""
    import signal
    # no heartbeat kill of the stopped translator: the test kills
    gateway = gateway_factory(supervisor={"heartbeat_ms": "10000"})
    reg = sipp("uas_register_slow.xml", challenge_args(), "registrar")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            fut = asyncio.ensure_future(u.link({
                "username": "alice@127.0.0.1", "password": "alicepw",
                "proxy": "127.0.0.1:%d" % REG_PORT}, timeout=40))
            await asyncio.get_event_loop().run_in_executor(None, lambda: wait_for(
                lambda: any(l.startswith("REG 401") for l in _reg_log(reg)),
                10, "REGISTER at the registrar"))
            tpid = gateway.pid("translator")
            os.kill(tpid, signal.SIGSTOP)
            await asyncio.sleep(2.5)  # the 401 is sent (after 2 s) meanwhile
            if worker == "translator":
                os.kill(tpid, signal.SIGKILL)
            else:
                os.kill(gateway.pid("sip-front"), signal.SIGKILL)
                os.kill(tpid, signal.SIGCONT)
            _, cond, text = await fut
            assert cond is None, (cond, text)
        finally:
            u.disconnect()
    run(go())
    assert reg.wait(20) == 0
    assert registrations(gateway)[0]["state"] == "registered"


def test_kamailio_failure_retried_reported_restored(gateway_factory, kamailio):
    gw = gateway_factory(sip={"register_retry_ms": "[500, 2000]"})
    kam = kamailio(KAM_MAX_EXPIRES=3)

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            await u.next_gw_presence(match=lambda p: p["type"] == "available")
            kam.stop()
            p = await u.next_gw_presence(match=lambda p: p["type"] == "unavailable",
                                         timeout=15)
            assert p["status"].startswith("503") or p["status"].startswith("408"), p["status"]
            m = await u.next_message(match=lambda m: "registration failed" in m["body"])
            assert m["from"].bare == accounts.COMPONENT
            assert "alicepw" not in str(m)
            r = registrations(gw)[0]
            assert r["state"] in ("failed", "refreshing") and r["failures"] >= 1
            kamailio(KAM_MAX_EXPIRES=3)
            await u.next_gw_presence(match=lambda p: p["type"] == "available", timeout=15)
            m = await u.next_message(match=lambda m: "registered again" in m["body"])
            assert m["from"].bare == accounts.COMPONENT
            wait_for(lambda: registrations(gw)[0]["failures"] == 0, 5, "failures reset")
        finally:
            u.disconnect()
    run(go(), timeout=90)


def test_kamailio_one_binding_for_two_devices_reset_and_end(gateway, kamailio):
    kam = kamailio()

    async def go():
        phone = await accounts.login("dave@localhost/phone", "davepass")
        laptop = await accounts.login("dave@localhost/laptop", "davepass")
        phone.online_to_gateway()
        laptop.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        await known_online(gateway, "dave@localhost/laptop")
        peer = await jingle.SipPeer.start(BOB_PORT)
        try:
            _, cond, _ = await phone.link(ACCOUNT)
            assert cond is None
            # the other device sees it linked, without the secret
            q = await laptop.get_form()
            assert q.find("{%s}registered" % accounts.NS_REG) is not None
            assert "alicepw" not in str(q)
            assert len(kam.bindings("alice")) == 1
            # a call to the AOR rings both devices
            d = peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                            "sip:carol@example.org", "sip:alice@127.0.0.1",
                            dst=("127.0.0.1", KAM_PORT))
            await phone.next_jingle(action="session-initiate")
            await laptop.next_jingle(action="session-initiate")
            peer.cancel(d)
            # a chat to the AOR reaches the user
            peer.send("MESSAGE sip:alice@127.0.0.1 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:carol@example.org>;tag=c1\r\n"
                      "To: <sip:alice@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                      % (BOB_PORT, uuid.uuid4().hex[:10], uuid.uuid4().hex),
                      ("127.0.0.1", KAM_PORT))
            m = await phone.next_message(match=lambda m: m["body"] == "hello")
            assert m["from"].bare == "carol\\40example.org@" + accounts.COMPONENT
            # re-set: a new password goes to the same binding
            _, cond, _ = await laptop.link(dict(ACCOUNT, password="alicepw"))
            assert cond is None
            assert len(kam.bindings("alice")) == 1
        finally:
            phone.disconnect()
            laptop.disconnect()
            peer.close()
    run(go())
    regs = registrations(gateway)
    assert len(regs) == 1
    # xsgwctl end: un-REGISTERs and forgets
    gateway.ctl("end", str(regs[0]["id"]))
    wait_for(lambda: kam.bindings("alice") == [], 10, "binding removed by end")
    wait_for(lambda: registrations(gateway) == [], 10, "registration ended")


def test_store_is_owner_only(gateway):
    st = os.stat(os.path.join(gateway.dir, "store", "data.mdb"))
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)


@pytest.mark.parametrize("how", ["declined", "timeout"])
def test_kamailio_missed_call(gateway_factory, kamailio, how):
    gw = gateway_factory(sip={"ring_timeout_ms": "1500"})
    kamailio()

    async def go():
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        await known_online(gw, "dave@localhost/phone")
        peer = await jingle.SipPeer.start(BOB_PORT)
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            peer.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                        "sip:carol@example.org", "sip:alice@127.0.0.1",
                        dst=("127.0.0.1", KAM_PORT))
            _, j = await u.next_jingle(action="session-initiate")
            if how == "declined":
                await u.send_jingle(j.get("initiator").split("/")[0],
                                    "session-terminate", j.get("sid"),
                                    "<reason><decline/></reason>")
            code, _ = await peer.next_response("INVITE", final=True, timeout=10)
            assert code in ((603, 486) if how == "declined" else (480, 408))
            m = await u.next_message(match=lambda m: m["body"].startswith("Missed call"))
            assert "carol@example.org" in m["body"]
            # why, in the user's words
            assert m["body"].endswith(
                "(declined)" if how == "declined"
                else "(not answered)"), m["body"]
            assert m["from"].bare == "carol\\40example.org@" + accounts.COMPONENT
        finally:
            u.disconnect()
            peer.close()
    run(go())


def test_kamailio_reset_refused_keeps_the_working_account(gateway, kamailio):
    """A re-set with credentials the registrar refuses is answered
    not-authorized and the working account stays (registered again with
    its credentials, refreshed); a re-set to another AOR, once accepted,
    removes the old AOR's binding (Expires: 0)."""
    kam = kamailio(KAM_MAX_EXPIRES=4)

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            n = len(kam.saved("alice"))
            _, cond, text = await u.link(dict(ACCOUNT, password="wrong"))
            assert cond == "not-authorized", (cond, text)
            assert "previous settings are kept" in text
            # the kept account is registered again and refreshed
            wait_for(lambda: len(kam.saved("alice")) >= n + 2, 15,
                     "refreshes with the kept password")
            r = registrations(gateway)[0]
            assert r["aor"] == "sip:alice@127.0.0.1"
            assert r["state"] in ("registered", "refreshing"), r
            assert kam.bindings("alice")

            _, cond, text = await u.link(dict(ACCOUNT, username="sip:carol@127.0.0.1",
                                              password="carolpw"))
            assert cond is None, (cond, text)
            wait_for(lambda: kam.bindings("alice") == [], 10,
                     "alice's binding removed")
            assert len(kam.bindings("carol")) == 1
            assert registrations(gateway)[0]["aor"] == "sip:carol@127.0.0.1"
        finally:
            u.disconnect()
    run(go())
    assert "alicepw" not in gateway.read_log()
    assert "carolpw" not in gateway.read_log()


def test_kamailio_second_call_during_a_call(gateway, kamailio):
    """SPEC 6.2 / issue 11 point 4: a call to the AOR while the user is in
    a call rings as a second call (its own session); declining it answers
    its caller and leaves a missed-call chat; the first call goes on."""
    kamailio()

    async def go():
        u = await accounts.login("dave@localhost/phone", "davepass")
        u.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        carol = await jingle.SipPeer.start(BOB_PORT)
        erin = await jingle.SipPeer.start(BOB_PORT + 4)
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            d1 = carol.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                              "sip:carol@example.org", "sip:alice@127.0.0.1",
                              dst=("127.0.0.1", KAM_PORT))
            _, j1 = await u.next_jingle(action="session-initiate")
            gw1 = j1.get("initiator").split("/")[0]
            r = await u.send_jingle(gw1, "session-accept", j1.get("sid"),
                                    jingle.ANSWER)
            assert r["type"] == "result"
            code, ok = await carol.next_response("INVITE", final=True)
            assert code == 200
            carol.ack(d1, jingle.tag_of(jingle.hdr(ok, "To")))

            d2 = erin.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                             "sip:erin@example.org", "sip:alice@127.0.0.1",
                             dst=("127.0.0.1", KAM_PORT))
            _, j2 = await u.next_jingle(action="session-initiate")
            assert j2.get("sid") != j1.get("sid")
            assert "erin" in j2.get("initiator")
            code, _ = await erin.next_response("INVITE", timeout=5)
            assert code in (100, 180), code
            await u.send_jingle(j2.get("initiator").split("/")[0],
                                "session-terminate", j2.get("sid"),
                                "<reason><busy/></reason>")
            code, _ = await erin.next_response("INVITE", final=True)
            assert code == 486
            m = await u.next_message(
                match=lambda m: m["body"].startswith("Missed call"))
            assert "erin@example.org" in m["body"]
            calls = json.loads(gateway.ctl("sessions", "--json").stdout)["sessions"]
            assert [c["state"] for c in calls] == ["active"], calls
            assert calls[0]["sid"] == j1.get("sid")
            await u.send_jingle(gw1, "session-terminate", j1.get("sid"),
                                "<reason><success/></reason>")
            bye = await carol.next_request("BYE")
            carol.reply(bye, 200, "OK")
        finally:
            u.disconnect()
            carol.close()
            erin.close()
    run(go())


def test_kamailio_linked_account_is_a_phone(gateway, kamailio):
    """SPEC 6.3: a linked account is a phone too: its user is asked to
    subscribe to the AOR's gateway JID, which shows available while
    registered, dnd "On the phone" while a call through the account is
    up, available again after it, unavailable once unlinked."""
    kamailio()
    phone_jid = "alice\\40127.0.0.1@" + accounts.COMPONENT

    async def go():
        u = await accounts.login("dave@localhost/phone", "davepass")
        seen = asyncio.Queue()
        u.add_event_handler("presence", lambda p: p["from"].bare == phone_jid
                            and p["type"] not in ("subscribe", "subscribed",
                                                  "unsubscribe", "unsubscribed")
                            and seen.put_nowait(p))

        last = [None]

        async def shows():
            """The next change of what the phone's JID shows (a probe or
            the approval of the gateway's request repeats the current)."""
            while True:
                p = await asyncio.wait_for(seen.get(), 10)
                v = "unavailable" if p["type"] == "unavailable" else \
                    "dnd" if "dnd" in (p["show"], p["type"]) else "available"
                if v != last[0]:
                    last[0] = v
                    return v
        u.online_to_gateway()
        await known_online(gateway, "dave@localhost/phone")
        carol = await jingle.SipPeer.start(BOB_PORT)
        try:
            _, cond, _ = await u.link(ACCOUNT)
            assert cond is None
            got = await shows()
            while got == "unavailable":  # (before the registration)
                got = await shows()
            assert got == "available"
            ph = [p for p in json.loads(gateway.ctl("presence", "--json").stdout)
                  ["phones"] if p["gateway_jid"] == phone_jid]
            assert ph and ph[0]["state"] in ("online", "still-online")
            d = carol.invite("sip:alice@127.0.0.1:%d" % KAM_PORT,
                             "sip:carol@example.org", "sip:alice@127.0.0.1",
                             dst=("127.0.0.1", KAM_PORT))
            _, j = await u.next_jingle(action="session-initiate")
            gw1 = j.get("initiator").split("/")[0]
            await u.send_jingle(gw1, "session-accept", j.get("sid"), jingle.ANSWER)
            code, ok = await carol.next_response("INVITE", final=True)
            assert code == 200
            carol.ack(d, jingle.tag_of(jingle.hdr(ok, "To")))
            assert await shows() == "dnd"
            await u.send_jingle(gw1, "session-terminate", j.get("sid"),
                                "<reason><success/></reason>")
            bye = await carol.next_request("BYE")
            carol.reply(bye, 200, "OK")
            assert await shows() == "available"
            _, cond, _ = await u.unlink()
            assert cond is None
            assert await shows() == "unavailable"
            wait_for(lambda: all(p["gateway_jid"] != phone_jid for p in json.loads(
                gateway.ctl("presence", "--json").stdout)["phones"]), 10,
                "the account's phone forgotten")
        finally:
            u.del_roster_item(phone_jid)
            u.disconnect()
            carol.close()
    run(go())


def test_no_secret_in_debug_log_even_with_bodies(gateway_factory, sipp):
    gw = gateway_factory(log_level="debug", log_bodies=True)
    reg = sipp("uas_register_challenge.xml", challenge_args(), "registrar")

    async def go():
        u = await accounts.login("dave@localhost", "davepass")
        try:
            _, cond, _ = await u.link({"username": "alice@127.0.0.1",
                                       "password": "alicepw",
                                       "proxy": "127.0.0.1:%d" % REG_PORT})
            assert cond is None
        finally:
            u.disconnect()
    run(go())
    assert reg.wait(15) == 0
    log = gw.read_log()
    assert "REGISTER" in log  # the debug log is on
    assert "alicepw" not in log
    out = gw.ctl("registrations", "--json").stdout + gw.ctl("dump").stdout
    out += gw.ctl("show", str(registrations(gw)[0]["id"])).stdout
    assert "alicepw" not in out
