"""The XMPP server goes away and comes back (issue 2 point 7): the
xmpp-front reconnects with backoff on its own (the supervisor does not
restart it), and a SIP MESSAGE accepted during the outage is delivered after
the server is back. Uses its own Prosody, so the shared one stays up."""
import os
import subprocess
import tempfile
import uuid

import pytest

from conftest import PEERS, run, wait_for
from test_messaging import sip_request
from xmpp_user import login, logout

C2S, COMP, HTTP = 5232, 5357, 5290


def prosody_ctl(d, action):
    env = dict(os.environ, XMPP_USERS="alice:alicepass", XMPP_C2S_PORT=str(C2S),
               XMPP_COMPONENT_PORT=str(COMP), XMPP_HTTP_PORT=str(HTTP))
    r = subprocess.run([os.path.join(PEERS, "prosody_%s.sh" % action), d],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def own_prosody():
    d = tempfile.mkdtemp(prefix="xsgw-prosody2-") + "/p"
    prosody_ctl(d, "start")
    yield d
    prosody_ctl(d, "stop")


def test_reconnects_after_server_outage(own_prosody, gateway_factory):
    gw = gateway_factory(xmpp_port=COMP)
    prosody_ctl(own_prosody, "stop")
    wait_for(lambda: gw.read_log().count("xmpp: reconnecting in") >= 2, 15,
             "reconnect attempts with backoff")
    tag = uuid.uuid4().hex[:8]
    code, _ = sip_request("MESSAGE", "sip:alice@localhost",
                          body=("during the outage " + tag).encode())
    assert code == 202  # persisted: the outage is not the SIP sender's problem
    prosody_ctl(own_prosody, "start")
    wait_for(lambda: gw.read_log().count("xmpp: connected to") >= 2, 20,
             "component connected again")
    st = gw.status()
    assert st["xmpp-front"]["restarts"] == 0  # reconnected, not restarted

    async def go():
        u = await login("alice@localhost/back", "alicepass", port=C2S)
        m = await u.next_message(15, lambda m: tag in m["body"])
        await logout(u)
        return m

    m = run(go())
    assert m["body"] == "during the outage " + tag
    wait_for(lambda: "messages.pending             0" in gw.ctl("stats").stdout,
             10, "nothing pending")
