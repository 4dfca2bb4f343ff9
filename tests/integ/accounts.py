"""XEP-0077 / XEP-0100 client side of SIP accounts (SPEC §6.2), for tests.

A slixmpp user registers with the gateway's component JID; presence and
chat from the component are collected. Every wait has a timeout.
"""
import asyncio

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

import jingle

COMPONENT = "sip.localhost"
NS_REG = "jabber:iq:register"
NS_X = "jabber:x:data"


class AccountUser(jingle.JingleUser):
    """A Jingle-capable user that also sees the component's presence."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.gw_presence = asyncio.Queue()
        self.auto_authorize = True
        self.auto_subscribe = True
        self.add_event_handler("presence", self._presence)

    def _presence(self, p):
        if p["from"].bare == COMPONENT:
            self.gw_presence.put_nowait(p)

    async def next_gw_presence(self, timeout=10, match=None):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no component presence in %ss" % timeout)
            p = await asyncio.wait_for(self.gw_presence.get(), left)
            if match is None or match(p):
                return p

    async def reg_iq(self, itype, children, timeout=15):
        """Send a jabber:iq:register IQ; returns (result stanza or None,
        error condition or None, error text)."""
        iq = self.Iq()
        iq["type"] = itype
        iq["to"] = COMPONENT
        q = ET.Element("{%s}query" % NS_REG)
        for c in children:
            q.append(c)
        iq.append(q)
        try:
            r = await iq.send(timeout=timeout)
            return r, None, None
        except IqError as e:
            return e.iq, e.iq["error"]["condition"], e.iq["error"]["text"]
        except IqTimeout:
            return None, "timeout", None

    async def get_form(self):
        r, cond, _ = await self.reg_iq("get", [])
        assert cond is None, cond
        return r.xml.find("{%s}query" % NS_REG)

    async def link(self, fields, legacy=False, timeout=15):
        """Set the account: legacy fields or an XEP-0004 submit form."""
        kids = []
        if legacy:
            for k in ("username", "password"):
                if k in fields:
                    e = ET.Element("{%s}%s" % (NS_REG, k))
                    e.text = fields[k]
                    kids.append(e)
        else:
            x = ET.Element("{%s}x" % NS_X, {"type": "submit"})
            f = ET.SubElement(x, "{%s}field" % NS_X, {"var": "FORM_TYPE"})
            ET.SubElement(f, "{%s}value" % NS_X).text = NS_REG
            for k, v in fields.items():
                f = ET.SubElement(x, "{%s}field" % NS_X, {"var": k})
                ET.SubElement(f, "{%s}value" % NS_X).text = v
            kids.append(x)
        return await self.reg_iq("set", kids, timeout)

    async def unlink(self, timeout=15):
        return await self.reg_iq("set", [ET.Element("{%s}remove" % NS_REG)],
                                 timeout)


async def login(jid, password, port=5222, timeout=10):
    u = AccountUser(jid, password)
    u.connect(("127.0.0.1", port), use_ssl=False, force_starttls=False,
              disable_starttls=True)
    await asyncio.wait_for(u.started, timeout)
    return u
