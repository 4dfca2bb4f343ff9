"""Operator-facing hardening (issue 9): the directories xsgw trusts, and
what xsgwctl and the log show of peer-controlled strings."""
import os
import subprocess

from conftest import BIN, Gateway


def start_refused(tmp, prepare):
    """Write a config in tmp, let prepare() set up its directories, run
    xsgw; return (exit status, output)."""
    gw = Gateway(tmp)
    prepare(tmp)
    r = subprocess.run([os.path.join(BIN, "xsgw"), "-c", gw.cfg],
                       capture_output=True, text=True, timeout=15)
    return r.returncode, r.stdout + r.stderr


def test_world_writable_runtime_dir_is_refused(tmp_path):
    run = str(tmp_path / "run")

    def prepare(_tmp):
        os.mkdir(run)
        os.chmod(run, 0o777)

    rc, out = start_refused(str(tmp_path), prepare)
    assert rc == 78, out
    lines = [ln for ln in out.splitlines() if " error: " in ln]
    assert len(lines) == 1, out
    assert "runtime.dir %s: group or others may write to it" % run in lines[0]
    # nothing was started, nothing was created in it
    assert os.listdir(run) == []


def test_runtime_dir_readable_by_others_or_a_symlink_is_refused(tmp_path):
    run = str(tmp_path / "run")

    def readable(_tmp):
        os.mkdir(run)
        os.chmod(run, 0o755)

    rc, out = start_refused(str(tmp_path), readable)
    assert rc == 78 and "runtime.dir %s: group or others may use it" % run \
        in out, out

    os.rmdir(run)

    def link(_tmp):
        os.mkdir(str(tmp_path / "real"), 0o700)
        os.symlink(str(tmp_path / "real"), run)

    rc, out = start_refused(str(tmp_path), link)
    assert rc == 78 and "runtime.dir %s: is a symbolic link" % run in out, out


def test_store_dir_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to give the directory away")
    store = str(tmp_path / "store")

    def prepare(_tmp):
        os.mkdir(store, 0o700)
        os.chown(store, 65534, 65534)

    rc, out = start_refused(str(tmp_path), prepare)
    assert rc == 78, out
    assert "store.path %s: owned by another user" % store in out, out


def test_ctl_human_output_escapes_peer_strings(gateway):
    """An XMPP client chooses its Jingle sid: one with a C1 CSI (U+009B,
    a terminal escape in 8-bit mode) and a right-to-left override is shown
    escaped by `xsgwctl sessions` and `show`, as it is by --json."""
    import json
    from conftest import UAS_PORT, run
    from jingle import CONTENTS, GW, SipPeer, jlogin
    from xmpp_user import logout

    sid = "evil\u009b2J\u202egnp.exe"

    async def go():
        peer = await SipPeer.start(UAS_PORT)
        alice = await jlogin("alice@localhost/phone", "alicepass")
        alice.online_to_gateway()
        r = await alice.send_jingle("bob@" + GW, "session-initiate", sid,
                                    CONTENTS)
        assert r["type"] == "result"
        inv = await peer.next_request("INVITE")
        out = (gateway.ctl("sessions").stdout,
               gateway.ctl("sessions", "--json").stdout)
        sess = json.loads(out[1])["sessions"]
        show = gateway.ctl("show", str(sess[0]["id"])).stdout
        peer.reply(inv, 486, "Busy Here")
        await alice.next_jingle(action="session-terminate")
        await logout(alice)
        return out, sess, show

    (human, _), sess, show = run(go())
    assert len(sess) == 1 and sess[0]["sid"] == sid  # JSON: as it is
    for text in (human, show):
        assert "\u009b" not in text and "\u202e" not in text, text
        assert "\x1b" not in text
        assert "evil\\xc2\\x9b2J\\xe2\\x80\\xaegnp.exe" in text, text
