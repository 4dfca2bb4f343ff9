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
