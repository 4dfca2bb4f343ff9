"""A phone entry with a password (SPEC §6.3, issue 12 point 2): the gateway
signs in as the user's own jid/resource over a client session to Prosody
and shows the phone's state there too, so the user's contacts see it on
the user: available "Phone online", dnd "On the phone", unavailable. One
stanza per change; the session reconnects with backoff and shows the
current state again after any restart; it reads nothing (chats to it
bounce, IQs are answered) and never takes chats for the bare JID."""
import asyncio
import os

import pytest
from slixmpp.exceptions import IqError

import accounts
import jingle
from conftest import run, wait_for
from test_phone_presence import (AOR, ON_THE_PHONE, PHONE_PORT, PIDF,
                                 phones, publish, shows, state)

SESSION = "erin@localhost/desk"
PASSWORD = "erinpass"


def presence_cfg(password=PASSWORD, tls="client_tls: optional, "):
    # no presence server answers: the phone's PUBLISHes drive its state
    # (the test Prosody has no certificate: no STARTTLS)
    return ('{server: "127.0.0.1:5199", keepalive_max_s: 3600, '
            'client_server: "127.0.0.1:5222", %s'
            'phones: [{sip: "%s", jid: "erin@localhost", resource: "desk", '
            'password: "%s"}]}' % (tls, AOR, password))


def signed_in(gateway_factory):
    """A gateway whose client session for erin/desk has signed in."""
    gw = gateway_factory(presence=presence_cfg())
    wait_for(lambda: "client session %s signed in" % SESSION in gw.read_log(),
             15, "the client session signed in")
    return gw


class Contact:
    """kate, with a subscription to erin's presence (approved by erin's own
    client, which stays online as erin/pc)."""

    async def start(self):
        self.erin = await accounts.login("erin@localhost/pc", PASSWORD)
        self.kate = await accounts.login("kate@localhost/pc", "katepass")
        # one approval, no subscription back: a late "subscribe" would
        # make Prosody send kate erin's presence once more (RFC 6121 3.1.3)
        self.erin.auto_subscribe = self.kate.auto_subscribe = False
        self.seen = asyncio.Queue()
        self.stanzas = []
        self.kate.add_event_handler("presence", self._presence)
        await self.kate.get_roster()
        self.kate.send_presence(pto="erin@localhost", ptype="subscribe")
        loop = asyncio.get_event_loop()
        await loop.run_in_executor(None, lambda: wait_for(
            lambda: self.kate.client_roster["erin@localhost"]["subscription"]
            in ("to", "both"), 10, "kate's subscription to erin approved"))
        await self.erin.plugin["xep_0199"].ping("localhost", timeout=10)
        return self

    def _presence(self, p):
        if str(p["from"]) == SESSION and p["type"] not in (
                "subscribe", "subscribed", "unsubscribe", "unsubscribed",
                "probe", "error"):
            self.stanzas.append(p)
            self.seen.put_nowait(shows(p))

    async def next(self, what, timeout=15):
        try:
            return await asyncio.wait_for(self.seen.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("kate saw no presence of %s (%s) in %ss"
                                 % (SESSION, what, timeout))

    async def quiet(self):
        """Nothing more from the session: a ping through the same server
        answered after anything it had routed to kate."""
        await self.kate.plugin["xep_0199"].ping("localhost", timeout=10)
        assert self.seen.empty(), list(self.seen._queue)

    def close(self):
        self.kate.disconnect()
        self.erin.disconnect()


async def step(peer, body, etag=None, expires=60):
    callid = publish(peer, AOR, body=body, etag=etag, expires=expires)
    while True:
        code, r = await peer.next_response("PUBLISH")
        if jingle.hdr(r, "Call-ID") == callid:
            break
    assert code == 200, r
    return jingle.hdr(r, "SIP-ETag")


def test_client_session_shows_the_phone_on_the_users_jid(gateway_factory):
    gw = signed_in(gateway_factory)

    async def go():
        c = await Contact().start()
        peer = await jingle.SipPeer.start(PHONE_PORT)
        try:
            # offline at sign-in: nothing shown (no stray unavailable)
            await c.quiet()
            etag = await step(peer, PIDF % (AOR, "open", ""))
            assert await c.next("available") == "available"
            p = c.stanzas[-1]
            assert p["status"] == "Phone online"
            assert int(p["priority"]) == -1
            etag = await step(peer, PIDF % (AOR, "open", ON_THE_PHONE), etag)
            assert await c.next("dnd") == "dnd"
            assert c.stanzas[-1]["status"] == "On the phone"
            # a refresh changes nothing: nothing shown
            etag = await step(peer, "", etag)
            await c.quiet()
            # the session reads nothing: an IQ is answered, a chat to its
            # full JID bounces, a chat to the bare JID reaches erin/pc
            await c.kate.plugin["xep_0199"].ping(SESSION, timeout=10)
            try:
                await c.kate.plugin["xep_0030"].get_info(jid=SESSION,
                                                         timeout=10)
                raise AssertionError("disco#info to the session answered")
            except IqError as e:
                assert e.iq["error"]["condition"] == "service-unavailable"
            errors = []
            err = asyncio.get_event_loop().create_future()
            c.kate.add_event_handler(
                "message_error", lambda m: errors.append(m) or err.done()
                or err.set_result(m))
            got = asyncio.get_event_loop().create_future()
            c.erin.add_event_handler(
                "message", lambda m: m["body"] == "to erin" and not got.done()
                and got.set_result(m))
            c.kate.send_message(mto=SESSION, mbody="to the phone",
                                mtype="chat")
            m = await asyncio.wait_for(err, 10)
            assert m["error"]["condition"] == "service-unavailable"
            c.kate.send_message(mto="erin@localhost", mbody="to erin",
                                mtype="chat")
            await asyncio.wait_for(got, 10)
            # (had the phone's session got it too, it would have bounced)
            await c.kate.plugin["xep_0199"].ping("localhost", timeout=10)
            assert len(errors) == 1, errors
            # Expires: 0 -> unavailable, once
            await step(peer, "", etag, expires=0)
            assert await c.next("unavailable") == "unavailable"
            await c.quiet()
            assert state(gw) == "offline"
        finally:
            peer.close()
            c.close()
    run(go())
    log = gw.read_log()
    assert PASSWORD not in log


def resumed(gw, n):
    """The log's n-th "resumed" line for the session."""
    return gw.read_log().count("client session %s resumed" % SESSION) >= n


def test_client_session_survives_kill9(gateway_factory):
    """kill -9 of any worker: the session stays (XEP-0198: Prosody keeps
    it while no connection holds it, the front's next incarnation resumes
    it with the id and counts the store keeps) and the contacts are told
    nothing twice and nothing in between: no unavailable, no second copy
    of the current state. A change made while the front is down is shown
    once, after the resumption. A restart (xsgwctl restart) and a full
    restart of the gateway leave the session to the next incarnation the
    same way."""
    gw = signed_in(gateway_factory)

    async def go():
        c = await Contact().start()
        peer = await jingle.SipPeer.start(PHONE_PORT)
        loop = asyncio.get_event_loop()
        try:
            etag = await step(peer, PIDF % (AOR, "open", ON_THE_PHONE))
            assert await c.next("dnd") == "dnd"
            for worker in ("translator", "sip-front"):
                await loop.run_in_executor(None, gw.kill9, worker)
                etag = await step(peer, "", etag)  # a refresh: nothing
                await c.quiet()
            signed = gw.read_log().count(
                "client session %s signed in" % SESSION)
            # the front killed while it shows dnd: resumed, nothing seen
            await loop.run_in_executor(None, gw.kill9, "xmpp-front")
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: resumed(gw, 1), 15, "the session resumed"))
            await c.quiet()
            # killed again, and the phone changes before it is back:
            # the change is shown once
            await loop.run_in_executor(None, gw.kill9, "xmpp-front")
            etag = await step(peer, PIDF % (AOR, "open", ""), etag)
            assert await c.next("available") == "available"
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: resumed(gw, 2), 15, "the session resumed again"))
            await c.quiet()
            # and it goes on following the phone
            etag = await step(peer, PIDF % (AOR, "open", ON_THE_PHONE), etag)
            assert await c.next("dnd") == "dnd"
            await c.quiet()
            # a restart (xsgwctl restart): the same
            await loop.run_in_executor(None, gw.restart, "xmpp-front")
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: resumed(gw, 3), 15, "resumed after the restart"))
            await c.quiet()
            # a full restart (stop, start on the same store): the same
            await loop.run_in_executor(None, gw.stop)
            await loop.run_in_executor(None, gw.start)
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: resumed(gw, 4), 15, "resumed after a full restart"))
            await c.quiet()
            assert gw.read_log().count(
                "client session %s signed in" % SESSION) == signed
            assert phones(gw)[0]["state"] == "onthephone"
            # xsgwctl tells that it is resumable (not the token)
            assert phones(gw)[0]["client_session_resumable"] is True
            assert [shows(p) for p in c.stanzas] == [
                "dnd", "available", "dnd"]
        finally:
            peer.close()
            c.close()
    run(go())


def test_client_session_kill9_at_any_point(gateway_factory):
    """kill -9 of the xmpp-front (and of the translator, which keeps the
    session's counts) at random points while the phone changes
    and the session is pinged (stanzas handled, acks asked, a presence's
    number being kept or its stanza in flight): every time the next
    incarnation resumes the session (the server never refuses the counts
    the store keeps: no new sign-in), every ping is answered, and the
    contacts see each change once, in order, and never the session
    leave."""
    import random
    import signal
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    gw = signed_in(gateway_factory)

    async def go():
        c = await Contact().start()
        peer = await jingle.SipPeer.start(PHONE_PORT)
        loop = asyncio.get_event_loop()
        want = []
        try:
            etag = None
            for i in range(6):
                on_phone = i % 2 == 0
                await c.kate.plugin["xep_0199"].ping(SESSION, timeout=20)
                etag = await step(peer, PIDF % (
                    AOR, "open", ON_THE_PHONE if on_phone else ""), etag)
                want.append("dnd" if on_phone else "available")
                await asyncio.sleep(rnd.uniform(0, 0.03))
                worker = "translator" if i % 3 == 2 else "xmpp-front"
                pid = await loop.run_in_executor(None, gw.pid, worker)
                os.kill(pid, signal.SIGKILL)
                await loop.run_in_executor(
                    None, gw.wait_replaced, worker, pid)
            await c.kate.plugin["xep_0199"].ping(SESSION, timeout=20)
            for w in want:
                assert await c.next(w, timeout=20) == w, (seed, c.stanzas)
            await c.quiet()
            log = gw.read_log()
            assert log.count("client session %s signed in" % SESSION) == 1, \
                seed
            assert "signing in anew" not in log, seed
            assert [shows(p) for p in c.stanzas] == want, seed
        finally:
            peer.close()
            c.close()
    run(go())


def test_client_session_taken_over_yields(gateway_factory):
    """Another client signs in as the same jid/resource: Prosody ends the
    gateway's session (conflict). The gateway does not fight back every
    few hundred milliseconds (each round would show the contacts a
    change): it logs it once and tries again only after its long wait."""
    gw = signed_in(gateway_factory)

    async def go():
        c = await Contact().start()
        peer = await jingle.SipPeer.start(PHONE_PORT)
        loop = asyncio.get_event_loop()
        try:
            await step(peer, PIDF % (AOR, "open", ""))
            assert await c.next("available") == "available"
            intruder = await accounts.login(SESSION, PASSWORD)
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: "client session %s taken over by another client"
                % SESSION in gw.read_log(), 15, "the conflict logged"))
            # the gateway's session leaves, the intruder's comes; the
            # gateway stays away for many times its reconnect backoff
            # (50..500 ms here)
            assert await c.next("the gateway's leaving") == "unavailable"
            assert await c.next("the intruder's") == "available"
            with pytest.raises(AssertionError):
                await loop.run_in_executor(None, lambda: wait_for(
                    lambda: gw.read_log().count(
                        "client session %s signed in" % SESSION) > 1,
                    3, "signed in again"))
            await c.quiet()
            assert gw.read_log().count("taken over by another client") == 1
            intruder.disconnect()
        finally:
            peer.close()
            c.close()
    run(go())


class StallingServer:
    """A client port that offers STARTTLS, says <proceed/>, and then never
    answers the TLS handshake (a hung or overloaded server)."""

    def __init__(self, port):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.conns = []
        self.proceeded = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    @staticmethod
    def _until(c, buf, what):
        while what not in buf:
            b = c.recv(4096)
            if not b:
                raise OSError("closed")
            buf += b
        return buf

    def _one(self, c):
        if True:
            try:
                c.settimeout(10)
                buf = self._until(c, b"", b"<stream:stream")
                c.sendall(b"<?xml version='1.0'?><stream:stream "
                          b"xmlns='jabber:client' "
                          b"xmlns:stream='http://etherx.jabber.org/streams' "
                          b"id='s1' from='localhost' version='1.0'>"
                          b"<stream:features><starttls xmlns='urn:ietf:params:"
                          b"xml:ns:xmpp-tls'><required/></starttls>"
                          b"</stream:features>")
                buf = self._until(c, buf, b"<starttls")
                c.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                self.proceeded.set()
                # ... and nothing more: the ClientHello is never answered
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def asan_build():
    """Is the gateway under test built with ASan?"""
    from conftest import BIN
    try:
        with open(os.path.join(BIN, "xsgw-xmpp-front"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(asan_build(), reason=(
    "under ASan each TLS attempt spends seconds "
    "of CPU in OpenSSL loading the CA bundle: heartbeats are missed for a "
    "reason that is not the stall under test"))
def test_client_session_stalled_tls_never_stalls_the_front(gateway_factory):
    """libstrophe waits inside a TLS handshake the server never answers:
    the xmpp-front's watchdog cuts it, the worker keeps answering its
    heartbeats (no restart), the gateway keeps serving, and the session
    retries quietly."""
    srv = StallingServer(5291)
    try:
        # (heartbeats of 1 s: loading the CA bundle for a TLS attempt is
        # seconds of CPU under ASan's slow unwinding, not a stall)
        gw = gateway_factory(supervisor={"heartbeat_ms": "1000"}, presence=(
            '{server: "127.0.0.1:5199", client_server: "127.0.0.1:5291", '
            'phones: [{sip: "%s", jid: "erin@localhost", resource: "desk", '
            'password: "%s"}]}' % (AOR, PASSWORD)))
        assert srv.proceeded.wait(15), "no STARTTLS from the gateway"
        pid = gw.pid("xmpp-front")
        wait_for(lambda: "client session %s cannot sign in" % SESSION
                 in gw.read_log(), 15, "the stalled sign-in given up")
        # several heartbeats later: the same worker
        with pytest.raises(AssertionError):
            wait_for(lambda: gw.pid("xmpp-front") != pid, 4,
                     "an xmpp-front restart")
        assert "xmpp-front" not in "".join(
            l for l in gw.read_log().splitlines() if "heartbeat" in l)

        async def go():
            # and the component still carries stanzas
            u = await accounts.login("erin@localhost/pc", PASSWORD)
            try:
                await u.plugin["xep_0199"].ping("sip.localhost", timeout=10)
            finally:
                u.disconnect()
        run(go())
        assert PASSWORD not in gw.read_log()
    finally:
        srv.close()


@pytest.mark.parametrize("why", ["wrong password", "no TLS"])
def test_client_session_refused_is_retried_quietly(gateway_factory, why):
    """A wrong password, or a server without STARTTLS while
    presence.client_tls is required (the default): the sign-in fails, is
    logged once (never the password), and retried with backoff; the phone
    still shows on its gateway JID."""
    pw = "wrong-secret-pw" if why == "wrong password" else PASSWORD
    gw = gateway_factory(presence=presence_cfg(
        pw, "client_tls: optional, " if why == "wrong password" else ""))
    wait_for(lambda: "client session %s cannot sign in" % SESSION
             in gw.read_log(), 15, "the refused sign-in logged")

    async def go():
        u = await accounts.login("erin@localhost/pc", PASSWORD)
        gwjid = phones(gw)[0]["gateway_jid"]
        seen = asyncio.Queue()
        u.add_event_handler("presence", lambda p: p["from"].bare == gwjid
                            and p["type"] == "available"
                            and seen.put_nowait(p))
        peer = await jingle.SipPeer.start(PHONE_PORT)
        try:
            await step(peer, PIDF % (AOR, "open", ""))
            await asyncio.wait_for(seen.get(), 10)
        finally:
            peer.close()
            u.disconnect()
    run(go())
    log = gw.read_log()
    assert pw not in log
    assert log.count("client session %s cannot sign in" % SESSION) == 1
    assert "client session %s signed in" % SESSION not in log
