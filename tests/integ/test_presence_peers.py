"""Presence with real SIP peers (SPEC 6.3, issue 12 point 8): baresip
(Debian baresip-core 1.0.0, its presence.so) and SIPp against the gateway,
Kamailio as registrar, proxy and presence server (kam_presence_start.sh),
slixmpp users of Prosody asserting what they see.

baresip's presence.so does three things (modules/presence in v1.0.0):
  - publisher: PUBLISH Event: presence with PIDF to its own AOR (through
    its outbound proxy, else to the AOR's host) when the account has
    ;pubint=N: <basic>unknown</basic> when loaded, open on the next
    REGISTER 200 (or the ctrl command presence_online), closed on
    presence_offline, a refresh (SIP-If-Match, no body) at 90 % of N, and
    Expires: 0 when it shuts down;
  - subscriber: SUBSCRIBE Event: presence (Expires 600) to every contact
    marked ;presence=p2p; a NOTIFY's PIDF sets the contact's state as the
    `contacts` command lists it: basic open -> Online, closed -> Offline,
    <rpid:busy/> or <rpid:on-the-phone/> -> Busy, <rpid:away/> -> Offline
    (sic), a NOTIFY without a body -> Unknown; un-SUBSCRIBE at shutdown;
  - notifier: answers SUBSCRIBEs to its own AOR (not used here).

Tests:
  baresip as a phone of presence.phones (registers at Kamailio, calls a
    SIPp phone through it, hangs up, shuts down): the owner sees the
    phone's gateway JID available / dnd / available / unavailable;
  baresip PUBLISHing to Kamailio: an XMPP watcher of its gateway JID sees
    each state it publishes, and its Expires: 0 at shutdown;
  baresip PUBLISHing to the gateway for a configured phone (through a
    relay that keeps what passes): open / closed, its own refreshes
    (SIP-If-Match, empty body) change nothing, shutdown (Expires: 0) is
    offline; and its first PUBLISH, offline, does not repeat
    "unavailable" to the owner;
  baresip as a SIP watcher of an XMPP user through the gateway: pending
    until the user approves, then every presence change in its contact
    list, un-SUBSCRIBE at shutdown tells the user (unsubscribe);
  SIPp as a SIP watcher (tests/sipp/presence_watcher.xml): 202, NOTIFY
    pending, active with PIDF once the user approves, a change, a refresh
    (200 and the current state), un-SUBSCRIBE -> terminated;
  SIPp as a publisher (tests/sipp/presence_publisher.xml), to the gateway
    for a configured phone and to Kamailio's presence server: initial
    PUBLISH, refresh with SIP-If-Match, a modification, a stale entity-tag
    (412), Expires: 0; the phone's owner / the SIP user's XMPP watcher see
    one presence per change (but see the Kamailio refresh caveat there).

Every wait is bounded and waits for an event: a stanza, a ping answered
after everything the gateway sent before (a barrier), a baresip ctrl_tcp
event or answer, a Kamailio log line, a SIP message through the relay,
SIPp's exit, the gateway's own view (xsgwctl presence --json).
"""
import asyncio
import json
import os
import pwd
import re
import subprocess
import sys
import uuid

import pytest

import accounts
from conftest import GW_SIP, PEERS, run, wait_for
from test_phone_presence import KAM_PORT, KamPresence
from test_xmpp_watchers import shows

sys.path.insert(0, PEERS)
from baresip_ctrl import BaresipCtrl  # noqa: E402

USERS = {"olga": "olgapass", "rita": "ritapass", "sven": "svenpass"}
BARESIP_PORT = 5084
BARESIP_CTRL = 4454
CALLEE_PORT = 5093      # a SIPp phone baresip calls (through Kamailio)
SIPP_PORT = 5094        # SIPp watcher / publisher
NO_SERVER = 5199        # a presence.server nobody answers on
KAM = "127.0.0.1:%d" % KAM_PORT


# ---- peers ---------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def presence_users(prosody):
    """olga (owns phones), rita (watched by SIP), sven (watches SIP
    users): XMPP users no other test uses."""
    cfg = os.path.join(prosody, "prosody.cfg.lua")
    owner = pwd.getpwuid(os.stat(os.path.join(prosody, "data")).st_uid).pw_name
    pre = ["runuser", "-u", owner, "--"] if os.getuid() == 0 and owner != "root" else []
    for u, p in USERS.items():
        r = subprocess.run(pre + ["prosodyctl", "--config", cfg, "register", u,
                                  "localhost", p],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr + r.stdout


@pytest.fixture
def kam():
    k = KamPresence()
    yield k
    k.stop()


def kam_lines(kam, pattern):
    return re.findall(pattern, kam.log())


def kam_notify_answers(kam):
    """NOTIFYs of Kamailio's presence server the gateway answered 200."""
    return len(kam_lines(kam, r"RPL 200 OK for NOTIFY from 127\.0\.0\.1:5600"))


class Baresip:
    """baresip_start.sh on BARESIP_PORT, driven over ctrl_tcp (blocking
    calls run in an executor so that slixmpp keeps running)."""

    def __init__(self, tmp, user, **env):
        self.dir = os.path.join(tmp, "baresip-%s-%s" % (user, uuid.uuid4().hex[:6]))
        e = dict(os.environ, BARESIP_USER=user,
                 BARESIP_SIP_PORT=str(BARESIP_PORT),
                 BARESIP_CTRL_PORT=str(BARESIP_CTRL), BARESIP_STDIO="0")
        e.update(env)
        r = subprocess.run([os.path.join(PEERS, "baresip_start.sh"), self.dir],
                           env=e, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.ctrl = None
        try:
            self.ctrl = BaresipCtrl(BARESIP_CTRL)
        except Exception:
            self.stop()
            raise

    def log(self, plain=False):
        """baresip's output (plain: without its colour codes)."""
        with open(os.path.join(self.dir, "baresip.log"), errors="replace") as f:
            t = f.read()
        return re.sub(r"\x1b\[[0-9;]*m", "", t) if plain else t

    def _cmd(self, command, params=None):
        r = self.ctrl.command(command, params)
        assert r.get("ok"), (command, r)
        return r

    async def cmd(self, command, params=None):
        return await asyncio.get_event_loop().run_in_executor(
            None, self._cmd, command, params)

    async def event(self, *types, timeout=15):
        try:
            return await asyncio.get_event_loop().run_in_executor(
                None, self.ctrl.wait_event, list(types), timeout)
        except TimeoutError:
            raise AssertionError("baresip: no %s in %ss; events %s; log:\n%s" % (
                types, timeout, self.ctrl.events, self.log()[-3000:]))

    async def barrier(self):
        """A ctrl round trip: what reached baresip's SIP socket before it
        (a 200 and its entity-tag) is handled before the next command.
        (baresip sends a PUBLISH at once for a new state, even while the
        last one is unanswered: with the old tag, 412.)"""
        await self.cmd("reginfo")

    def contact_state(self, name):
        """What `contacts` says of a contact: Online, Offline, Busy or
        Unknown (colour codes removed)."""
        data = re.sub(r"\x1b\[[0-9;]*m", "", self._cmd("contacts").get("data", ""))
        m = re.search(r"(\w+) +\"?%s\"? <" % re.escape(name), data)
        return m.group(1) if m else None

    async def contact_becomes(self, name, want, timeout=10):
        seen = []

        def check():
            seen.append(self.contact_state(name))
            return seen[-1] == want
        try:
            await asyncio.get_event_loop().run_in_executor(
                None, lambda: wait_for(check, timeout, "baresip's contact %s %s"
                                       % (name, want)))
        except AssertionError:
            raise AssertionError("baresip's contact %s: %s, not %s; log:\n%s"
                                 % (name, seen[-1:], want, self.log()[-3000:]))

    def stop(self):
        """SIGTERM: baresip un-REGISTERs, un-PUBLISHes, un-SUBSCRIBEs."""
        try:
            if self.ctrl:
                self.ctrl.close()
                self.ctrl = None
        finally:
            subprocess.run([os.path.join(PEERS, "baresip_stop.sh"), self.dir],
                           capture_output=True, timeout=30)


@pytest.fixture
def baresip_factory(tmp_path):
    made = []

    def make(user, **env):
        b = Baresip(str(tmp_path), user, **env)
        made.append(b)
        return b
    yield make
    for b in made:      # before Kamailio (its fixture ends after this one)
        b.stop()


# ---- the gateway's view --------------------------------------------------

def ctl_presence(gw):
    return json.loads(gw.ctl("presence", "--json").stdout)


def phone_state(gw):
    p = ctl_presence(gw)["phones"]
    return p[0]["state"] if p else None


def presence_sub(gw, user):
    for s in ctl_presence(gw)["subscriptions"]:
        if s["event"] == "presence" and s["target"].startswith("sip:%s@" % user):
            return s
    return None


def watchers(gw):
    return ctl_presence(gw)["watchers"]


async def until(pred, timeout, what):
    await asyncio.get_event_loop().run_in_executor(
        None, lambda: wait_for(pred, timeout, what))


def in_thread(fn, *a):
    return asyncio.get_event_loop().run_in_executor(None, fn, *a)


# ---- XMPP side -----------------------------------------------------------

class Seen:
    """The presence stanzas a logged-in user gets from one gateway JID."""

    def __init__(self, u, gwjid):
        self.u, self.gwjid = u, gwjid
        self.q = asyncio.Queue()
        u.add_event_handler("presence", self._presence)

    def _presence(self, p):
        if p["from"].bare == self.gwjid:
            self.q.put_nowait(p)

    async def next(self, timeout=10, what=""):
        try:
            return await asyncio.wait_for(self.q.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no presence (%s) from %s within %ss"
                                 % (what, self.gwjid, timeout))

    async def expect(self, want, status=None, timeout=10):
        """The next presence shows want (and, if given, has that status)."""
        p = await self.next(timeout, want)
        assert shows(p) == want, "%s instead of %s: %s" % (shows(p), want, p)
        if status is not None:
            assert p["status"] == status, p
        return p

    async def barrier(self):
        """The stanzas the gateway JID sent before now (its answer to a
        ping comes after all of them: one component stream, in order)."""
        await self.u["xep_0199"].send_ping(self.gwjid, timeout=10)
        out = []
        while not self.q.empty():
            out.append(self.q.get_nowait())
        return out


async def login(user, manual=False):
    """A user of Prosody; manual: answers subscription requests itself
    (queued in u.subs)."""
    u = await accounts.login("%s@localhost/pc" % user, USERS[user])
    if manual:
        u.auto_authorize = None
        u.auto_subscribe = False
    u.subs = asyncio.Queue()
    u.add_event_handler("presence_subscribe", u.subs.put_nowait)
    u.add_event_handler("presence_unsubscribe", u.subs.put_nowait)
    # a session that asked for its roster is "interested": it is told of
    # subscription changes (RFC 6121 3.1.6)
    await u.get_roster(timeout=10)
    return u


async def next_sub(u, timeout=10):
    try:
        return await asyncio.wait_for(u.subs.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("no subscription request within %ss" % timeout)


async def owner_settled(u, gwjid):
    """The phone owner's roster has the phone's gateway JID (the gateway
    asks, slixmpp approves) and the gateway's answers are in."""
    await until(lambda: u.client_roster[gwjid]["subscription"] in ("from", "both"),
                10, "the phone's subscription approved")
    await u["xep_0199"].send_ping(gwjid, timeout=10)


async def forget(u, *jids):
    """Leave the roster as it was: a pending request would be sent again
    at every login (RFC 6121 3.1.2), to later tests' gateways."""
    for j in jids:
        try:
            await u.del_roster_item(j, timeout=5)
        except Exception:
            pass
    u.disconnect()


# ==== baresip ============================================================

def phone_cfg(aor, server=KAM):
    return ('{server: "%s", keepalive_max_s: 3600, '
            'phones: [{sip: "%s", jid: "olga@localhost", resource: "desk"}]}'
            % (server, aor))


def test_baresip_phone_registers_calls_hangs_up_and_leaves(
        gateway_factory, kam, baresip_factory, sipp):
    """baresip is a phone of presence.phones: it REGISTERs at Kamailio, the
    gateway follows its reg and dialog events there; it calls a SIPp phone
    through Kamailio (dialog confirmed), hangs up, and de-registers when it
    shuts down. Its owner sees the phone's gateway JID available "Phone
    online", dnd "On the phone", available, unavailable - once each."""
    user = "pat" + uuid.uuid4().hex[:6]
    aor = "sip:%s@127.0.0.1" % user
    gw = gateway_factory(presence=phone_cfg(aor))
    wait_for(lambda: len(ctl_presence(gw)["subscriptions"]) == 2 and all(
        s["state"] == "active" for s in ctl_presence(gw)["subscriptions"]),
        15, "reg and dialog subscriptions active")
    assert phone_state(gw) == "offline"
    gwjid = ctl_presence(gw)["phones"][0]["gateway_jid"]

    async def go():
        u = await login("olga")
        seen = Seen(u, gwjid)
        try:
            await owner_settled(u, gwjid)
            # (the gateway's approval of olga's subscription back, and
            # the phone's state: offline)
            assert {shows(p) for p in await seen.barrier()} <= {
                "subscribe", "subscribed", "unavailable"}

            b = await in_thread(lambda: baresip_factory(
                user, BARESIP_REGISTRAR=KAM,
                BARESIP_EXTRA_ACCOUNT_PARAMS=';outbound="sip:%s"' % KAM))
            await seen.expect("available", "Phone online", timeout=15)
            assert phone_state(gw) == "online"

            callee = sipp("uas_call.xml", ["-p", str(CALLEE_PORT), "-m", "1",
                                           "-timeout", "60s"], "callee")
            await until(lambda: subprocess.run(
                ["ss", "-Hlun", "sport = :%d" % CALLEE_PORT], capture_output=True,
                text=True, timeout=5).stdout.strip(), 10, "the SIPp phone listening")
            await b.cmd("dial", "sip:callee@127.0.0.1:%d" % CALLEE_PORT)
            await b.event("CALL_ESTABLISHED")
            await seen.expect("dnd", "On the phone", timeout=15)
            assert phone_state(gw) == "onthephone"

            await b.cmd("hangup")
            await b.event("CALL_CLOSED")
            await seen.expect("available", "Phone online", timeout=15)
            assert phone_state(gw) == "still-online"
            assert await in_thread(callee.wait, 20) == 0

            await in_thread(b.stop)          # un-REGISTER
            await seen.expect("unavailable", timeout=15)
            assert phone_state(gw) == "offline"
            assert await seen.barrier() == []
        finally:
            await forget(u, gwjid)
    run(go(), timeout=120)


def test_baresip_publishes_at_kamailio_xmpp_watcher_sees_it(
        gateway_factory, kam, baresip_factory):
    """baresip registered at Kamailio, its presence.so PUBLISHing there
    (;pubint=60). sven watches its gateway JID: the gateway SUBSCRIBEs at
    Kamailio once; presence_online / presence_offline reach sven as
    available / unavailable, each once; the first PUBLISH (basic
    "unknown") shows nothing; baresip's Expires: 0 at shutdown leaves it
    unavailable."""
    user = "quinn" + uuid.uuid4().hex[:6]
    gwjid = user + "@sip.localhost"
    # sip.domain 127.0.0.1: quinn@sip.localhost is sip:quinn@127.0.0.1,
    # the presentity baresip publishes at Kamailio
    gw = gateway_factory(sip={"domain": '"127.0.0.1"'},
                         presence='{server: "%s"}' % KAM)

    async def go():
        u = await login("sven")
        seen = Seen(u, gwjid)
        b = await in_thread(lambda: baresip_factory(
            user, BARESIP_REGISTRAR=KAM,
            BARESIP_EXTRA_ACCOUNT_PARAMS=";pubint=60"))
        try:
            await until(lambda: kam_lines(kam, r"REGISTER saved aor=%s granted=[1-9]"
                                          % user), 10, "baresip registered")
            u.send_presence(pto=gwjid, ptype="subscribe")
            await seen.expect("subscribed", timeout=15)
            await until(lambda: (presence_sub(gw, user) or {}).get("state") == "active",
                        10, "the gateway's subscription active")
            # nothing published yet: Kamailio's NOTIFY has no body
            assert [shows(p) for p in await seen.barrier()] == ["unavailable"]

            n = kam_notify_answers(kam)
            await b.cmd("insmod", "presence.so")
            # its first PUBLISH: <basic>unknown</basic>, no presence for it;
            # its 200 (and entity-tag) is back at baresip before the NOTIFY
            # it caused is answered
            await until(lambda: kam_notify_answers(kam) > n, 10,
                        "the NOTIFY of the first PUBLISH answered")
            pubs = kam_lines(kam, r"PUB presence sip:%s@\S+ ctype=\S+ expires=60 "
                             r"etag=(\S+) -> handle_publish rc=1" % user)
            assert pubs == ["<null>"], pubs

            await b.barrier()
            await b.cmd("presence_online")
            p = await seen.expect("available")
            assert not p["status"], p
            await b.barrier()
            await b.cmd("presence_offline")
            await seen.expect("unavailable")
            await b.barrier()
            await b.cmd("presence_online")
            await seen.expect("available")
            # each PUBLISH after the first replaced it (SIP-If-Match)
            pubs = kam_lines(kam, r"PUB presence sip:%s@\S+ ctype=\S+ expires=60 "
                             r"etag=(\S+) -> handle_publish rc=1" % user)
            assert len(pubs) == 4 and "<null>" not in pubs[1:], pubs
            assert [shows(p) for p in await seen.barrier()] == []

            await in_thread(b.stop)    # PUBLISH Expires: 0, un-REGISTER
            await seen.expect("unavailable", timeout=15)
            assert kam_lines(kam, r"PUB presence sip:%s@\S+ ctype=\S+ expires=0 "
                             % user)
            s = presence_sub(gw, user)
            assert s["state"] == "active" and s["basic"] != "open", s
            assert s["watchers"] == ["sven@localhost"]
            # one SUBSCRIBE at Kamailio for all of it
            assert len(kam_lines(kam, r"SUB presence sip:%s@" % user)) == 1
            u.send_presence(pto=gwjid, ptype="probe")
            assert [shows(p) for p in await seen.barrier()] == ["unavailable"]
        finally:
            await forget(u, gwjid)
    run(go(), timeout=120)


def test_baresip_watches_an_xmpp_user(gateway_factory, kam, baresip_factory):
    """baresip (registered at Kamailio) has rita in its contacts with
    ;presence=p2p; her URI's maddr sends its SUBSCRIBE to the gateway.
    Pending until rita approves (its contact Unknown), then each of her
    presences in baresip's contact list: available Online, dnd Busy, away
    Offline (baresip reads <rpid:away/> so), unavailable Offline. At
    shutdown baresip un-SUBSCRIBEs: rita gets unsubscribe from its
    gateway JID, the gateway forgets the watcher."""
    user = "sam" + uuid.uuid4().hex[:6]
    wjid = user + "@sip.localhost"   # baresip's gateway JID (sip.domain)
    gw = gateway_factory(sip={"domain": '"127.0.0.1"'})

    async def go():
        u = await login("rita", manual=True)
        u.send_presence(pstatus="At my desk")
        b = await in_thread(lambda: baresip_factory(
            user, BARESIP_REGISTRAR=KAM,
            BARESIP_CONTACTS='"rita" <sip:rita@localhost:5600;maddr=127.0.0.1>'
                             ';presence=p2p'))
        try:
            await until(lambda: kam_lines(kam, r"REGISTER saved aor=%s granted=[1-9]"
                                          % user), 10, "baresip registered")
            await b.cmd("insmod", "presence.so")   # SUBSCRIBEs 1 s later
            p = await next_sub(u, 15)
            assert p["type"] == "subscribe" and p["from"].bare == wjid, p
            ws = watchers(gw)
            assert [(w["user"], w["state"]) for w in ws] == [
                ("rita@localhost", "pending")], ws
            assert ws[0]["watcher"].startswith("sip:%s@127.0.0.1" % user)
            assert b.contact_state("rita") == "Unknown"

            u.send_presence(pto=wjid, ptype="subscribed")
            await b.contact_becomes("rita", "Online")
            await until(lambda: watchers(gw)[0]["state"] == "active", 10,
                        "the watcher active")
            u.send_presence(pshow="dnd", pstatus="In a call")
            await b.contact_becomes("rita", "Busy")
            u.send_presence(pshow="away", pstatus="Lunch")
            await b.contact_becomes("rita", "Offline")
            u.send_presence(pstatus="Back")
            await b.contact_becomes("rita", "Online")
            u.send_presence(ptype="unavailable")
            await b.contact_becomes("rita", "Offline")
            # what baresip logged of it: every change, in order. (The
            # gateway first sees rita's presence when Prosody sends it
            # after her approval: the NOTIFY of the approval itself may say
            # closed, then the next open.)
            changes = re.findall(r"<sip:rita@localhost[^>]*> changed status from "
                                 r"(\w+) to (\w+)", b.log(plain=True))
            if changes[:1] == [("Offline", "Online")]:
                changes = changes[1:]
            assert changes == [("Online", "Busy"), ("Busy", "Offline"),
                               ("Offline", "Online"), ("Online", "Offline")], changes

            await in_thread(b.stop)    # un-SUBSCRIBE
            p = await next_sub(u, 15)
            assert p["type"] == "unsubscribe" and p["from"].bare == wjid, p
            await until(lambda: watchers(gw) == [], 45, "the watcher forgotten")
        finally:
            await forget(u, wjid)
    run(go(), timeout=120)


class Tap(asyncio.DatagramProtocol):
    """A UDP relay between a SIP peer and the gateway that keeps what
    passes (both ways) in order: the peer's requests go to the gateway
    from the tap's port, the gateway's answers back to the peer."""

    def __init__(self, to=("127.0.0.1", 5600)):
        self.to, self.peer = to, None
        self.msgs = asyncio.Queue()
        self.all = []

    @classmethod
    async def start(cls, port):
        loop = asyncio.get_event_loop()
        _, tap = await loop.create_datagram_endpoint(
            cls, local_addr=("127.0.0.1", port))
        return tap

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if addr == self.to:
            if self.peer:
                self.transport.sendto(data, self.peer)
        else:
            self.peer = addr
            self.transport.sendto(data, self.to)
        text = data.decode("utf-8", "replace")
        if text.strip():
            self.all.append(text)
            self.msgs.put_nowait(text)

    def close(self):
        self.transport.close()

    async def exchange(self, method, timeout=10):
        """The next request of method and its final response."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        req = None
        while True:
            try:
                m = await asyncio.wait_for(self.msgs.get(), end - loop.time())
            except asyncio.TimeoutError:
                raise AssertionError("no %s exchange within %ss; seen:\n%s" % (
                    method, timeout, "\n".join(x.split("\r\n")[0] for x in self.all)))
            if req is None and m.startswith(method + " "):
                req = m
            elif (req and m.startswith("SIP/2.0 ") and not m.startswith("SIP/2.0 1")
                  and sip_hdr(m, "CSeq") == sip_hdr(req, "CSeq")
                  and sip_hdr(m, "Call-ID") == sip_hdr(req, "Call-ID")):
                return req, m


def sip_hdr(msg, name):
    head = msg.split("\r\n\r\n")[0]
    m = re.search(r"^%s[ \t]*:[ \t]*(.*?)\r?$" % re.escape(name), head, re.M | re.I)
    return m.group(1).strip() if m else None


def sip_code(msg):
    return int(msg.split(" ", 2)[1])


def sip_body(msg):
    return msg.partition("\r\n\r\n")[2]


TAP_PORT = 5095
PUBINT = 5


def test_baresip_publishes_to_the_gateway(gateway_factory, baresip_factory):
    """baresip's presence.so PUBLISHes straight to the gateway for its AOR,
    a configured phone (;pubint=5; through a relay that keeps what
    passes). Its first PUBLISH (basic "unknown") shows nothing;
    presence_online -> the owner sees available "Phone online"; baresip's
    own refreshes at 90 % of pubint (SIP-If-Match, Content-Type and no
    body) get 200 and a new entity-tag each and show nothing, and keep the
    publication alive past its Expires; presence_offline -> unavailable,
    presence_online -> available; its Expires: 0 at shutdown -> offline."""
    user = "tess" + uuid.uuid4().hex[:6]
    aor = "sip:%s@127.0.0.1" % user
    gw = gateway_factory(presence=phone_cfg(aor, "127.0.0.1:%d" % NO_SERVER))
    gwjid = ctl_presence(gw)["phones"][0]["gateway_jid"]

    async def go():
        u = await login("olga")
        seen = Seen(u, gwjid)
        tap = await Tap.start(TAP_PORT)
        try:
            await owner_settled(u, gwjid)
            assert {shows(p) for p in await seen.barrier()} <= {
                "subscribe", "subscribed", "unavailable"}
            b = await in_thread(lambda: baresip_factory(
                user, BARESIP_AOR="sip:%s@127.0.0.1:%d" % (user, TAP_PORT),
                BARESIP_EXTRA_ACCOUNT_PARAMS=";pubint=%d" % PUBINT))

            await b.cmd("insmod", "presence.so")
            req, resp = await tap.exchange("PUBLISH")
            assert "<basic>unknown</basic>" in sip_body(req), req
            assert sip_hdr(req, "SIP-If-Match") is None
            assert sip_code(resp) == 200 and sip_hdr(resp, "SIP-ETag"), resp
            assert sip_hdr(resp, "Expires") == str(PUBINT)
            etag = sip_hdr(resp, "SIP-ETag")
            await b.barrier()
            # (the phone was offline and stays so: nothing to say, but the
            # gateway repeats "unavailable" for the first event it gets of
            # a phone; test_first_offline_publish_repeats_nothing)
            assert [shows(p) for p in await seen.barrier()] in (
                [], ["unavailable"])
            assert phone_state(gw) == "offline"

            await b.cmd("presence_online")
            req, resp = await tap.exchange("PUBLISH")
            assert "<basic>open</basic>" in sip_body(req)
            assert sip_hdr(req, "SIP-If-Match") == etag
            assert sip_code(resp) == 200, resp
            await seen.expect("available", "Phone online")
            assert phone_state(gw) == "online"

            # two refreshes of baresip's own, each with the last tag
            for _ in range(2):
                etag = sip_hdr(resp, "SIP-ETag")
                req, resp = await tap.exchange("PUBLISH", timeout=PUBINT + 5)
                assert sip_hdr(req, "SIP-If-Match") == etag, req
                assert sip_hdr(req, "Content-Length") == "0"
                assert sip_hdr(req, "Content-Type") == "application/pidf+xml"
                assert sip_code(resp) == 200, resp
                assert sip_hdr(resp, "SIP-ETag") not in (None, etag), resp
            await b.barrier()
            # past the first publication's Expires: still online, nothing said
            assert [shows(p) for p in await seen.barrier()] == []
            assert phone_state(gw) == "online"

            await b.cmd("presence_offline")
            req, resp = await tap.exchange("PUBLISH")
            assert "<basic>closed</basic>" in sip_body(req) and sip_code(resp) == 200
            await seen.expect("unavailable")
            await b.barrier()
            await b.cmd("presence_online")
            req, resp = await tap.exchange("PUBLISH")
            assert "<basic>open</basic>" in sip_body(req) and sip_code(resp) == 200
            await seen.expect("available", "Phone online")
            await b.barrier()
            await in_thread(b.stop)     # PUBLISH Expires: 0
            await seen.expect("unavailable")
            p = ctl_presence(gw)["phones"][0]
            assert (p["state"], p["source"]) == ("offline", "publish"), p
            pubs = [m for m in tap.all if m.startswith("PUBLISH ")]
            assert sip_hdr(pubs[-1], "Expires") == "0", pubs[-1]

            def codes():
                return [sip_code(m) for m in tap.all if m.startswith("SIP/2.0 ")]
            await until(lambda: len(codes()) == len(pubs), 5,
                        "an answer to every PUBLISH")
            assert codes() == [200] * len(pubs), codes()
            assert [shows(p) for p in await seen.barrier()] == []
        finally:
            tap.close()
            await forget(u, gwjid)
    run(go(), timeout=120)



def test_first_offline_publish_repeats_nothing(gateway_factory, baresip_factory):
    """The owner has been told the phone is unavailable (the answer to
    the approval of its subscription); baresip's first PUBLISH says
    <basic>unknown</basic> (offline): a state that changes nothing, so
    nothing is sent (SPEC 6.3: "a refresh that changes nothing sends
    nothing")."""
    user = "ursa" + uuid.uuid4().hex[:6]
    aor = "sip:%s@127.0.0.1" % user
    gw = gateway_factory(presence=phone_cfg(aor, "127.0.0.1:%d" % NO_SERVER))
    gwjid = ctl_presence(gw)["phones"][0]["gateway_jid"]

    async def go():
        u = await login("olga")
        seen = Seen(u, gwjid)
        try:
            await owner_settled(u, gwjid)
            told = [shows(p) for p in await seen.barrier()]
            assert "unavailable" in told, told
            b = await in_thread(lambda: baresip_factory(
                user, BARESIP_AOR="sip:%s@127.0.0.1:5600" % user,
                BARESIP_EXTRA_ACCOUNT_PARAMS=";pubint=60"))
            await b.cmd("insmod", "presence.so")
            await until(lambda: ctl_presence(gw)["phones"][0]["source"] == "publish",
                        10, "the PUBLISH taken")
            assert phone_state(gw) == "offline"
            assert [shows(p) for p in await seen.barrier()] == []
        finally:
            await forget(u, gwjid)
    run(go(), timeout=60)


# ==== SIPp ===============================================================

def sipp_log(s):
    """Everything a SIPp scenario logged (-trace_logs)."""
    out = ""
    for fn in sorted(os.listdir(s.dir)):
        if fn.endswith("_logs.log"):
            with open(os.path.join(s.dir, fn), errors="replace") as f:
                out += f.read()
    return out


def sipp_failure(s):
    """What SIPp said went wrong (for an assertion message)."""
    out = []
    for fn in sorted(os.listdir(s.dir)):
        if fn.endswith(("_errors.log", "out.txt")):
            with open(os.path.join(s.dir, fn), errors="replace") as f:
                out.append("%s:\n%s" % (fn, f.read()[-3000:]))
    return "\n".join(out) + "\nlog:\n" + sipp_log(s)[-3000:]


def pidf_says(body):
    """basic, note and RPID activities of a PIDF body (None for none)."""
    if not body.strip():
        return None
    basic = re.search(r"<basic>(\w+)</basic>", body)
    note = re.search(r"<note>(.*?)</note>", body, re.S)
    return (basic.group(1) if basic else None, note.group(1) if note else None,
            re.findall(r"<rpid:([\w-]+)/>", body))


def sipp_notifies(s):
    """The NOTIFYs presence_watcher.xml logged: (Subscription-State, what
    its PIDF says)."""
    return [(st, pidf_says(body)) for st, body in re.findall(
        r"^NOTIFY (\S+)[^\n]*\nBODY-BEGIN\n(.*?)\n?BODY-END$", sipp_log(s),
        re.M | re.S)]


def test_sipp_watches_an_xmpp_user(gateway_factory, sipp):
    """SIPp SUBSCRIBEs Event: presence to rita through the gateway: 202 and
    NOTIFY pending while rita is asked (from the watcher's gateway JID);
    she approves: NOTIFY active with her PIDF (open, her status as note);
    she goes dnd: <rpid:busy/>; SIPp refreshes: 200 and the current state;
    SIPp un-SUBSCRIBEs: 200, NOTIFY terminated, and rita gets unsubscribe
    from the watcher's gateway JID."""
    watcher = "sippw" + uuid.uuid4().hex[:6]
    wjid = watcher + "@sip.localhost"   # sip.domain example.org
    gw = gateway_factory(sip={"domain": '"example.org"'})

    async def go():
        u = await login("rita", manual=True)
        u.send_presence(pstatus="At my desk")
        s = sipp("presence_watcher.xml", [
            "-s", "rita", "-key", "presdomain", "localhost",
            "-key", "watcher", watcher, "-key", "wdomain", "example.org",
            "-key", "expires", "120", "-key", "refresh", "60",
            "-p", str(SIPP_PORT), "-m", "1", "-timeout", "60s",
            "-timeout_error", GW_SIP], "watcher")
        try:
            p = await next_sub(u, 15)
            assert p["type"] == "subscribe" and p["from"].bare == wjid, p
            ws = watchers(gw)
            assert [(w["watcher"], w["user"], w["state"]) for w in ws] == [
                ("sip:%s@example.org" % watcher, "rita@localhost", "pending")], ws
            u.send_presence(pto=wjid, ptype="subscribed")
            # the gateway has NOTIFYed her open presence: the next is a change
            await until(lambda: watchers(gw)[0]["notified"] == "open", 10,
                        "the watcher told open")
            u.send_presence(pshow="dnd", pstatus="In a call")
            rc = await in_thread(s.wait, 40)
            assert rc == 0, sipp_failure(s)
            p = await next_sub(u, 15)
            assert p["type"] == "unsubscribe" and p["from"].bare == wjid, p
            await until(lambda: watchers(gw) == [], 45, "the watcher forgotten")

            log = sipp_log(s)
            assert "RESP SUBSCRIBE 1 202 expires=120" in log, log
            assert "RESP SUBSCRIBE 2 200 expires=60" in log, log
            assert "RESP SUBSCRIBE 3 200" in log, log
            n = sipp_notifies(s)
            assert re.match(r"pending;expires=(120|1[01]\d)$", n[0][0]), n
            assert n[0][1] is None, n
            # (the gateway sees rita's presence only once she approved: the
            # active NOTIFY of the approval may say closed, the next open)
            if n[1][1] == ("closed", None, []):
                del n[1]
            assert [(st.split(";")[0], says) for st, says in n[1:]] == [
                ("active", ("open", "At my desk", [])),
                ("active", ("open", "In a call", ["busy"])),
                ("active", ("open", "In a call", ["busy"])),     # the refresh
                ("terminated", ("open", "In a call", ["busy"])),
            ], n
            assert re.match(r"active;expires=(59|60)$", n[3][0]), n
        finally:
            s.stop()
            await forget(u, wjid)
    run(go(), timeout=120)


def sipp_publishes(s):
    """presence_publisher.xml's outcomes: [(n, code, etag, expires)]."""
    return re.findall(r"^PUBLISH (\d) -> (\d+) etag=(\S+) expires=(\S*)$",
                      sipp_log(s), re.M)


def check_publishes(s, expires):
    got = sipp_publishes(s)
    assert [(n, code) for n, code, _, _ in got] == [
        ("1", "200"), ("2", "200"), ("3", "200"), ("4", "412"), ("5", "200")], got
    tags = [t for _, _, t, _ in got[:3]]
    assert len(set(tags)) == 3, "a new entity-tag for each: %s" % got
    assert [e for _, _, _, e in got[:3]] == [str(expires)] * 3, got
    assert got[4][3] in ("", "0"), got


def publisher_args(user, target, expires):
    return ["-s", user, "-key", "presdomain", "127.0.0.1",
            "-key", "note", "At my desk", "-key", "busynote", "In a call",
            "-key", "expires", str(expires), "-p", str(SIPP_PORT), "-m", "1",
            "-timeout", "30s", "-timeout_error", target]


def test_sipp_publishes_phone_state_to_the_gateway(gateway_factory, sipp):
    """SIPp PUBLISHes for a configured phone straight to the gateway:
    open -> the owner sees available "Phone online"; the refresh
    (SIP-If-Match, no body) shows nothing; on-the-phone -> dnd "On the
    phone"; a stale entity-tag 412; Expires: 0 -> unavailable. Each
    answer carries a new SIP-ETag and the Expires granted."""
    user = "uma" + uuid.uuid4().hex[:6]
    aor = "sip:%s@127.0.0.1" % user
    gw = gateway_factory(presence=phone_cfg(aor, "127.0.0.1:%d" % NO_SERVER))
    gwjid = ctl_presence(gw)["phones"][0]["gateway_jid"]

    async def go():
        u = await login("olga")
        seen = Seen(u, gwjid)
        try:
            await owner_settled(u, gwjid)
            assert {shows(p) for p in await seen.barrier()} <= {
                "subscribe", "subscribed", "unavailable"}
            s = sipp("presence_publisher.xml", publisher_args(user, GW_SIP, 300),
                     "publisher")
            await seen.expect("available", "Phone online")
            await seen.expect("dnd", "On the phone")
            await seen.expect("unavailable")
            assert await in_thread(s.wait, 30) == 0, sipp_failure(s)
            check_publishes(s, 300)
            assert [shows(p) for p in await seen.barrier()] == []
            p = ctl_presence(gw)["phones"][0]
            assert (p["state"], p["source"]) == ("offline", "publish"), p
        finally:
            await forget(u, gwjid)
    run(go(), timeout=90)


def test_sipp_publishes_at_kamailio_xmpp_watcher_sees_it(gateway_factory, kam, sipp):
    """SIPp PUBLISHes sip:vic@127.0.0.1's presence at Kamailio; sven
    watches vic@sip.localhost through the gateway (one SUBSCRIBE at
    Kamailio): open "At my desk" -> available with that status;
    on-the-phone "In a call" -> dnd with that status; 412 for the stale
    tag; Expires: 0 -> unavailable.

    The refresh (SIP-If-Match, no body) should change nothing, but the
    testbed's Kamailio (5.6, presence in memory: publ_cache 2) NOTIFYs an
    empty body for it, which the gateway reads as "nothing published":
    sven sees vic unavailable until the next change. (With publ_cache 1
    Kamailio NOTIFYs the document again and nothing is shown.) The test
    checks what Kamailio sent and expects the gateway's reading of it."""
    user = "vic" + uuid.uuid4().hex[:6]
    gwjid = user + "@sip.localhost"
    gw = gateway_factory(sip={"domain": '"127.0.0.1"'},
                         presence='{server: "%s"}' % KAM)

    async def go():
        u = await login("sven")
        seen = Seen(u, gwjid)
        try:
            u.send_presence(pto=gwjid, ptype="subscribe")
            await seen.expect("subscribed", timeout=15)
            await until(lambda: (presence_sub(gw, user) or {}).get("state") == "active",
                        10, "the gateway's subscription active")
            assert [shows(p) for p in await seen.barrier()] == ["unavailable"]
            n = kam_notify_answers(kam)
            s = sipp("presence_publisher.xml", publisher_args(user, KAM, 300),
                     "publisher")
            assert await in_thread(s.wait, 30) == 0, sipp_failure(s)
            check_publishes(s, 300)
            # a NOTIFY for each PUBLISH but the refused one, each answered
            await until(lambda: kam_notify_answers(kam) >= n + 4, 10,
                        "Kamailio's 4 NOTIFYs answered")
            got = [(shows(p), p["status"]) for p in await seen.barrier()]
            notifies = kam_lines(kam, r"SEND NOTIFY ruri=sip:xsgw@\S+ to=\S+ "
                                 r"event=presence state=active\S* ctype=(\S+) len=")
            assert len(notifies) == 5, notifies    # the subscription's + 4
            refresh_empty = notifies[2] == "<null>"
            want = [("available", "At my desk")]
            if refresh_empty:
                want.append(("unavailable", ""))
            want += [("dnd", "In a call"), ("unavailable", "")]
            assert got == want, (got, notifies)
            assert len(kam_lines(kam, r"SUB presence sip:%s@" % user)) == 1
            sub = presence_sub(gw, user)
            assert sub["state"] == "active" and sub["basic"] != "open", sub
        finally:
            await forget(u, gwjid)
    run(go(), timeout=90)
