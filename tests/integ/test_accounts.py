"""SIP accounts for XMPP users (SPEC §6.2, issue 11): XEP-0077 linking,
digest REGISTER, refresh, presence and notices from the gateway's JID,
and survival of kill -9 — against SIPp registrars and Kamailio."""
import asyncio
import json
import os

import pytest

import accounts
from conftest import SIPP, run, wait_for

REG_PORT = 5140


def registrations(gw):
    return json.loads(gw.ctl("registrations", "--json").stdout)


def challenge_args(granted=300, user="alice", password="alicepw", port=REG_PORT):
    return ["-p", str(port), "-m", "1", "-key", "user", user, "-key",
            "password", password, "-key", "granted", str(granted),
            "-timeout", "60s"]


def test_register_form(gateway):
    async def go():
        u = await accounts.login("alice@localhost", "alicepass")
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
                             ("FORM_TYPE", "hidden")):
                assert fields.get(var) == typ, (var, fields)
        finally:
            u.disconnect()
    run(go())


@pytest.mark.parametrize("fields,text", [
    ({"username": "", "password": "x"}, "required"),
    ({"username": "sip:al ice@127.0.0.1", "password": "x"}, "SIP address"),
    ({"username": "alice@127.0.0.1"}, "password"),
    ({"username": "alice@127.0.0.1", "password": "x", "proxy": "example.org"}, "IP address"),
    ({"username": "alice@127.0.0.1", "password": "x", "proxy": "127.0.0.1;transport=tls"}, "not supported"),
    ({"username": "alice@127.0.0.1", "password": "x", "expires": "0"}, "expires"),
    ({"username": "alice@example.org", "password": "x"}, "proxy"),
])
def test_link_bad_request(gateway, fields, text):
    async def go():
        u = await accounts.login("alice@localhost", "alicepass")
        try:
            _, cond, etext = await u.link(fields)
            assert cond == "bad-request"
            assert text in (etext or ""), etext
        finally:
            u.disconnect()
    run(go())
    assert registrations(gateway) == []


def test_link_challenged_md5_then_remove(gateway, sipp):
    reg = sipp(os.environ.get("XSGW_REGSCEN", "uas_register_challenge.xml"), challenge_args(), "registrar")

    async def go():
        u = await accounts.login("alice@localhost", "alicepass")
        try:
            r, cond, text = await u.link({
                "username": "sip:alice@127.0.0.1", "password": "alicepw",
                "proxy": "127.0.0.1:%d" % REG_PORT})
            assert cond is None, (cond, text)
            sub = await u.next_gw_presence(match=lambda p: p["type"] == "subscribe")
            assert sub["to"].bare == "alice@localhost"
            avail = await u.next_gw_presence(match=lambda p: p["type"] == "available")
            assert "sip:alice@127.0.0.1" in avail["status"]
            assert reg.wait(15) == 0
            regs = registrations(gateway)
            assert len(regs) == 1
            r0 = regs[0]
            assert r0["jid"] == "alice@localhost"
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
        u = await accounts.login("alice@localhost", "alicepass")
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
        u = await accounts.login("alice@localhost", "alicepass")
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
