"""A real XMPP user (slixmpp) for the integration tests.

Every wait has a timeout. Messages received are kept in an asyncio.Queue.
"""
import asyncio

import slixmpp


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.inbox = asyncio.Queue()
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", self._message)
        self.add_event_handler("message_error", self._message_error)
        self.add_event_handler("failed_auth", self._failed)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")

    async def _start(self, _ev):
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def _failed(self, _ev):
        if not self.started.done():
            self.started.set_exception(RuntimeError("auth failed"))

    def _message(self, msg):
        self.inbox.put_nowait(msg)

    def _message_error(self, msg):
        # slixmpp raises "message" only for stanzas with a <body>; a server's
        # error bounce usually has none
        if msg.xml.find("{jabber:client}body") is None:
            self.inbox.put_nowait(msg)

    async def next_message(self, timeout=10, match=None):
        """The next received message (optionally: the next one matching)."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no message within %ss" % timeout)
            msg = await asyncio.wait_for(self.inbox.get(), left)
            if match is None or match(msg):
                return msg

    async def drain(self, count, timeout, match=None):
        """Collect messages until count matched or timeout; returns a list."""
        got = []
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while len(got) < count:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                msg = await asyncio.wait_for(self.inbox.get(), left)
            except asyncio.TimeoutError:
                break
            if match is None or match(msg):
                got.append(msg)
        return got


async def login(jid, password, port=5222, timeout=10):
    u = User(jid, password)
    u.connect(("127.0.0.1", port), use_ssl=False, force_starttls=False,
              disable_starttls=True)
    await asyncio.wait_for(u.started, timeout)
    return u


async def logout(u):
    u.disconnect()
    try:
        await asyncio.wait_for(u.disconnected, 5)
    except Exception:
        pass
