"""The syscall pass of bench/compare: each selected benchmark runs once
per allocator under strace, and the madvise/munmap/mmap/mremap calls inside
its reported timed loop are counted per operation (metric "<call>_op").
Standard library only; the log parser is compare_core.parse_strace_log.
"""

import json
import os
import shutil
import subprocess
import tempfile

import compare_core as core
from compare_proc import env_for, provider_ok, run_process

# strace stops only on these calls (seccomp filter), so the traced run is
# slowed by the calls being counted and nothing else.
STRACE_TRACE = "trace=" + ",".join(core.STRACE_CALLS + ("write",))


def strace_command():
    """(strace's options for the syscall pass, None) or (None, why not)."""
    path = shutil.which("strace")
    if not path:
        return None, ("strace is not installed, so allocator system calls "
                      "were not counted (Debian package `strace`).")
    argv = [path, "-f", "-qq", "-s", "64", "-e", STRACE_TRACE]
    try:
        usage = subprocess.run([path, "--help"], capture_output=True,
                               text=True, timeout=30).stdout
        # Containers may forbid ptrace: find out once, not per benchmark.
        probe = subprocess.run([path, "-qq", "-e", "trace=none", "true"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"strace could not be run ({e}); no system call counts."
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"strace cannot trace here ({why}); no system call counts."
    # With a seccomp filter only the traced calls stop the tracee; without
    # one every system call does (futex hand-offs included).
    if "--seccomp-bpf" in usage:
        argv.insert(1, "--seccomp-bpf")
    return argv, None


def count_syscalls(strace, binary, name, info, min_time, timeout):
    """Allocator system calls per operation in the reported timed loop of
    one benchmark, run alone under strace.

    Returns (status, detail, {call: calls per operation}).
    """
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "strace.log")
        argv = strace + ["-o", trace]
        # Preload into the tracee only, not into strace itself.
        if info["preload"]:
            argv += ["-E", "LD_PRELOAD=" + info["preload"]]
        argv += [binary, "--syscall-markers", "--benchmark_format=json",
                 f"--benchmark_min_time={min_time}",
                 "--benchmark_filter=" + core.exact_filter([name])]
        status, detail, _, stdout, stderr = run_process(
            argv, env_for({"preload": None}), timeout)
        if status != core.OK:
            tail = stderr.strip().splitlines()[-2:]
            return status, "; ".join([detail] + tail), {}
        try:
            provider = json.loads(stdout).get("context", {}).get(
                "malloc_provider")
        except ValueError:
            return "error", "unparseable JSON output", {}
        if not provider_ok(info, provider):
            return "wrong-malloc", f"malloc came from {provider}", {}
        try:
            with open(trace, errors="replace") as f:
                parsed = core.parse_strace_log(f.read())
        except OSError as e:
            return "error", str(e), {}
    if not parsed or not parsed["ops"]:
        return "error", "no marked timed loop in the strace log", {}
    return core.OK, "", {c: n / parsed["ops"]
                         for c, n in parsed["calls"].items()}


def run_syscall_pass(binary, names, allocs, mode, known_bad, col, log):
    """Once per benchmark and allocator: madvise/munmap/mmap/mremap calls
    per operation, recorded as metric "<call>_op". Returns a note for the
    report when the pass could not run, else None."""
    strace, note = strace_command()
    if not strace:
        log("warning: " + note)
        return note
    # strace slows the calls it counts; the timing rounds' timeout with
    # room for that.
    timeout = 2 * mode["timeout"]
    for i, name in enumerate(names, 1):
        for alloc, info in allocs.items():
            if info["status"] != core.OK or (alloc, name) in known_bad:
                status = info["status"] if info["status"] != core.OK \
                    else known_bad[(alloc, name)]
                for c in core.STRACE_CALLS:
                    col.add(alloc, name, c + "_op", {"status": status})
                continue
            status, detail, per_op = count_syscalls(
                strace, binary, name, info, mode["min_time"], timeout)
            for c in core.STRACE_CALLS:
                col.add(alloc, name, c + "_op",
                        {"status": core.OK, "value": per_op[c]}
                        if status == core.OK else {"status": status})
            if status != core.OK:
                col.failures.append(f"{alloc} {name} (strace pass): "
                                    f"{status} ({detail})")
            shown = f"madvise/op {per_op['madvise']:.4f}" \
                if status == core.OK else f"{status} {detail}"
            log(f"[strace {i:>2}/{len(names)}] {core.display_name(name):<18}"
                f" {alloc:<9} {shown}")
    return None
