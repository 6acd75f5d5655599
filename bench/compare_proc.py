"""Starting quarry-bench processes for bench/compare: the environment that
preloads an allocator, the check that it really did, and a runner that
never raises for the child's sake. Standard library only.
"""

import os
import signal
import subprocess
import tempfile
import time

import compare_core as core


def env_for(info):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if info["preload"]:
        env["LD_PRELOAD"] = info["preload"]
    return env


def provider_ok(info, provider):
    """Does the malloc_provider quarry-bench reported match the allocator?"""
    if not provider:
        return False
    if info["preload"] is None:
        return os.path.basename(provider).startswith("libc.so")
    return os.path.realpath(provider) == os.path.realpath(info["preload"])


def run_process(argv, env, timeout):
    """Run argv; never raise for the child's sake.

    Returns (status, detail, wall_s, stdout, stderr) where status is ok /
    crash (killed by a signal) / error (non-zero exit) / timeout.

    Peak RSS is not taken from wait4()'s ru_maxrss: Linux keeps the
    high-water mark across execve, so every child would report at least
    this Python process's own RSS. quarry-bench reports its VmHWM instead
    (--report-peak-rss).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as e:
            return "error", str(e), 0.0, "", ""
        timed_out = False
        delay = 0.002
        while True:
            pid, wstatus = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                # A new session per child: kill its whole process group, so
                # a hung allocator's helper threads/processes go too.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                pid, wstatus = os.waitpid(proc.pid, 0)
                timed_out = True
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(wstatus)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    rc = proc.returncode
    if timed_out:
        return "timeout", f"killed after {timeout}s", wall, stdout, stderr
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() \
            else str(-rc)
        return "crash", f"signal {name}", wall, stdout, stderr
    if rc > 0:
        return "error", f"exit status {rc}", wall, stdout, stderr
    return core.OK, "", wall, stdout, stderr
