"""`make run` end to end (issue 2 point 2), run by `make test` after the
integration tests (it needs the default ports 5222/5347/5060/5600 free).

Starts scripts/run-local.sh as an operator would, waits for its banner, then
uses the deployment: a SIP phone registers bob at Kamailio, an XMPP user
(alice) writes to bob@sip.localhost and bob answers via Kamailio; then alice
calls bob's phone (Jingle -> INVITE via Kamailio -> 200 -> hang-up). Finally
Ctrl-C (SIGINT to the process group) must stop everything it started."""
import asyncio
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "integ"))
from jingle import CONTENTS, PHONE_SDP, SipPeer, hdr, jlogin  # noqa: E402
from sipraw import final, reply_to, request  # noqa: E402
from xmpp_user import login, logout  # noqa: E402


def sip(sock, data):
    sock.sendto(data, ("127.0.0.1", 5060))


def main():
    build = sys.argv[1]
    run_dir = tempfile.mkdtemp(prefix="xsgw-run-")
    env = dict(os.environ, XSGW_RUN_DIR=run_dir)
    p = subprocess.Popen([os.path.join(ROOT, "scripts", "run-local.sh"), build],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True,
                         bufsize=0)  # raw pipe: select() sees every byte
    out = []
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            # the script prints whole lines; never block past the deadline
            if not select.select([p.stdout], [], [], end - time.monotonic())[0]:
                continue
            line = p.stdout.readline().decode("utf-8", "replace")
            if not line:
                raise SystemExit("run-local.sh ended early:\n" + "".join(out))
            out.append(line)
            if "Ctrl-C stops everything" in line:
                break
        else:
            raise SystemExit("no banner within 60 s:\n" + "".join(out))

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(10)
        port = s.getsockname()[1]
        sip(s, request("REGISTER", "sip:127.0.0.1", "sip:bob@127.0.0.1",
                       "sip:bob@127.0.0.1", port,
                       "Contact: <sip:bob@127.0.0.1:%d>\r\nExpires: 300\r\n" % port))
        assert final(s)[0] == 200, "REGISTER refused"

        async def chat():
            alice = await login("alice@localhost/smoke", "alicepass")
            alice.send_message(mto="bob@sip.localhost", mbody="hello bob", mtype="chat")
            loop = asyncio.get_event_loop()
            msg = await loop.run_in_executor(None, s.recv, 65535)
            msg = msg.decode()
            assert msg.startswith("MESSAGE sip:bob@127.0.0.1:%d" % port), msg
            assert msg.endswith("\r\n\r\nhello bob"), msg
            sip(s, reply_to(msg, 200, "OK"))
            sip(s, request("MESSAGE", "sip:alice@localhost", "sip:bob@127.0.0.1",
                           "sip:alice@localhost", port, body=b"hello alice"))
            code, data = await loop.run_in_executor(None, final, s)
            assert code == 202, data
            m = await alice.next_message(10, lambda m: m["body"] == "hello alice")
            assert str(m["from"]) == "bob@sip.localhost", m["from"]
            await logout(alice)

        asyncio.run(asyncio.wait_for(chat(), 60))

        async def call():
            """alice calls bob's phone through Kamailio and hangs up."""
            phone = await SipPeer.start(port + 1)
            sip(s, request("REGISTER", "sip:127.0.0.1", "sip:bob@127.0.0.1",
                           "sip:bob@127.0.0.1", port,
                           "Contact: <sip:bob@127.0.0.1:%d>\r\nExpires: 300\r\n"
                           % (port + 1)))
            loop = asyncio.get_event_loop()
            assert (await loop.run_in_executor(None, final, s))[0] == 200
            alice = await jlogin("alice@localhost/smoke", "alicepass")
            r = await alice.send_jingle("bob@sip.localhost", "session-initiate",
                                        "smoke-call", CONTENTS)
            assert r["type"] == "result"
            inv = await phone.next_request("INVITE")
            assert hdr(inv, "Record-Route"), "Kamailio records the route"
            phone.reply(inv, 200, "OK", sdp=PHONE_SDP)
            _, j = await alice.next_jingle(action="session-accept")
            await phone.next_request("ACK")
            await alice.send_jingle("bob@sip.localhost", "session-terminate",
                                    "smoke-call", "<reason><success/></reason>")
            bye = await phone.next_request("BYE")
            phone.reply(bye, 200, "OK")
            await logout(alice)
            phone.close()

        asyncio.run(asyncio.wait_for(call(), 60))
    finally:
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            rest, _ = p.communicate(timeout=40)
            out.append(rest.decode("utf-8", "replace"))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise SystemExit("make run did not stop within 40 s")
    left = subprocess.run(["pgrep", "-f", run_dir], capture_output=True, text=True)
    assert not left.stdout.strip(), "left running: " + left.stdout
    assert "run: stopped" in "".join(out)
    shutil.rmtree(run_dir, ignore_errors=True)
    print("make run: deployment up, chat both ways and a call through Kamailio, "
          "Ctrl-C stopped it")


if __name__ == "__main__":
    main()
