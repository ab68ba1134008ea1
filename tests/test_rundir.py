import os
import signal
import subprocess
import sys
import time

import pytest

from leading.cli import main
from leading.errors import ConfigError, DataError
from leading.rundir import RunLock, prepare_run_dir, read_json, write_json


def test_prepare_run_dir_creates_and_probes(tmp_path):
    out = prepare_run_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []


@pytest.mark.parametrize("make", ["under_proc", "under_a_file", "read_only"])
def test_unusable_output_directory_is_refused_with_the_flag(tmp_path, make):
    if make == "under_proc":
        path = "/proc/leading-test/x"
    elif make == "under_a_file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "out"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only directories")
        (tmp_path / "ro").mkdir(mode=0o500)
        path = tmp_path / "ro"
    with pytest.raises(ConfigError, match=rf"output directory {path} cannot be created or "
                                          r"written \(.+\); pass a writable directory with --out"):
        prepare_run_dir(path)


def test_run_with_an_unusable_out_fails_before_any_work(capsys):
    assert main(["run", "--out", "/proc/leading-test/x", "--dataset", "no-such-data"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("leading: error: output directory /proc/leading-test/x cannot be")
    assert "Traceback" not in err and "no-such-data" not in err


def test_a_second_run_on_one_directory_is_refused(tmp_path, capsys):
    with RunLock(tmp_path, "the first run"):
        with pytest.raises(ConfigError, match=rf"{tmp_path} is in use by the first run \(pid "
                                              rf"{os.getpid()} on .+\); two runs"):
            with RunLock(tmp_path):
                pass
        # through the command line, before the dataset is read
        assert main(["run", "--out", str(tmp_path), "--dataset", "no-such-data"]) == 2
        assert "is in use by the first run" in capsys.readouterr().err
    with RunLock(tmp_path):  # released on exit
        pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    code = ("import sys, time; from leading.rundir import RunLock\n"
            f"with RunLock({str(tmp_path)!r}, 'holder'):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="in use by holder"):
            RunLock(tmp_path).__enter__()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the lock with the process
        try:
            with RunLock(tmp_path):
                break
        except ConfigError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_write_json_is_atomic_and_read_json_names_a_damaged_file(tmp_path):
    path = tmp_path / "result.json"
    write_json({"a": 1}, path)
    assert read_json(path) == {"a": 1} and not (tmp_path / "result.json.tmp").exists()
    path.write_text('{"a": ')
    with pytest.raises(DataError, match=rf"{path}: cannot read this seed result .*delete it"):
        read_json(path, "seed result")
