"""xsgwctl (SPEC §9): messages [--json] shows what is in flight, dump reads
the store with the gateway down (read-only), and a message still pending when
the whole gateway stops is sent again, as the same SIP transaction, when it
comes back."""
import json
import os
import socket

from conftest import UAS_PORT, run, wait_for
from xmpp_user import login, logout


def sip_hold(sock, timeout):
    """Receive one SIP request on sock (never answered here)."""
    sock.settimeout(timeout)
    return sock.recv(65535).decode("utf-8", "replace")


def header(msg, name):
    for h in msg.split("\r\n\r\n")[0].split("\r\n")[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def test_messages_dump_and_restart_of_everything(gateway_factory):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", UAS_PORT))  # a SIP peer that stays silent
    try:
        gw = gateway_factory(sip={"message_timeout_ms": "60000"})

        async def go():
            u = await login("alice@localhost/cli", "alicepass")
            u.send_message(mto="bob@sip.localhost", mbody="still there?", mtype="chat")
            await logout(u)
        run(go())
        first = sip_hold(peer, 10)
        assert first.startswith("MESSAGE sip:bob@127.0.0.1:%d " % UAS_PORT)

        msgs = json.loads(gw.ctl("messages", "--json").stdout)["messages"]
        assert len(msgs) == 1, msgs
        m = msgs[0]
        assert m["kind"] == "chat-x2s" and m["state"] == "pending"
        assert m["xmpp_from"] == "alice@localhost/cli"
        assert m["sip_to"] == "sip:bob@127.0.0.1:%d" % UAS_PORT
        assert m["call_id"] == header(first, "call-id")
        human = gw.ctl("messages").stdout
        assert "chat-x2s" in human and "pending" in human

        # the whole gateway down: dump still works and changes nothing
        assert gw.stop() == 0
        store = os.path.join(gw.dir, "store")
        data = os.path.join(store, "data.mdb")  # lock.mdb is the reader table
        before = (os.stat(data).st_mtime_ns, open(data, "rb").read())
        r = gw.ctl("dump")
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        rec = [x for x in rows if x["db"] == "msg"]
        assert len(rec) == 1 and rec[0]["value"]["state"] == "pending"
        assert rec[0]["value"]["call_id"] == m["call_id"]
        assert before == (os.stat(data).st_mtime_ns, open(data, "rb").read()), \
            "dump wrote to the store"
        st = gw.ctl("status", check=False)
        assert st.returncode != 0 and "not reachable" in st.stderr

        # back up: the pending MESSAGE goes out again as the same transaction
        gw.start()
        again = sip_hold(peer, 15)
        while header(again, "call-id") != m["call_id"]:
            again = sip_hold(peer, 15)
        assert header(again, "cseq") == header(first, "cseq")
        assert header(again, "via").split("branch=")[1] == \
            header(first, "via").split("branch=")[1]
        keep = [h for h in again.split("\r\n\r\n")[0].split("\r\n")[1:]
                if h.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
        peer.sendto(("SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n\r\n"
                     % "\r\n".join(keep)).encode(), ("127.0.0.1", 5600))
        wait_for(lambda: not json.loads(gw.ctl("messages", "--json").stdout)["messages"],
                 10, "nothing in flight after the 200")
    finally:
        peer.close()


def test_registrations_empty_and_unknown_id(gateway):
    """No SIP account linked: registrations lists none ([] in JSON, only the
    header line otherwise); show and end refuse an id that is nothing."""
    assert json.loads(gateway.ctl("registrations", "--json").stdout) == []
    assert gateway.ctl("registrations").stdout.split()[:3] == ["ID", "JID", "AOR"]
    assert len(gateway.ctl("registrations").stdout.splitlines()) == 1
    for cmd in ("show", "end"):
        r = gateway.ctl(cmd, "999999", check=False)
        assert r.returncode == 1 and "no session or registration" in r.stderr
