"""A seccomp filter for each runner: the kernel calls a candidate has no use for are refused.

Stdlib only, no `__future__` import: its source is part of the program that runs inside the
sandbox (after plain.py, before harness.py). The filter is a classic BPF program handed to
`prctl(PR_SET_SECCOMP)` through ctypes; it answers EPERM for calls that only widen the kernel's
attack surface or reach other processes (ptrace, process_vm_*, mount and the new mount API,
unshare/setns, keyctl, bpf, userfaultfd, perf_event_open, io_uring, module and kexec loading,
...), refuses clone with any namespace flag, and answers ENOSYS for clone3 (whose flags sit in
memory a filter cannot read; glibc then falls back to clone). With `deny_fork`, clone without
CLONE_THREAD (fork) gets EAGAIN too, for machines where nothing else bounds a fork bomb (no pids
cgroup, host uid 0 so RLIMIT_NPROC is not enforced). Threads are always allowed.

Known architectures: x86_64 and aarch64; elsewhere no filter is installed (`seccomp_supported`).

>>> len(seccomp_program("x86_64", deny_fork=True)) % 8, seccomp_supported("riscv64")
(0, False)
"""

import ctypes
import errno
import functools
import struct

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|..|K
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000  # SECCOMP_RET_*
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_X32_BIT = 0x40000000

# arch: (AUDIT_ARCH_*, refused syscall numbers, clone, clone3, fork-like calls)
_ARCHES = {
    "x86_64": (0xC000003E, {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165,
        "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "userfaultfd": 323,
        "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "personality": 135,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "fanotify_init": 300,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "syslog": 103, "acct": 163, "quotactl": 179,
        "iopl": 172, "ioperm": 173, "swapon": 167, "swapoff": 168, "reboot": 169},
        56, 435, (57, 58)),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "userfaultfd": 282,
        "perf_event_open": 241, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "personality": 92,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "fanotify_init": 262,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "syslog": 116, "acct": 89, "quotactl": 60,
        "swapon": 224, "swapoff": 225, "reboot": 142},
        220, 435, ()),
}


def seccomp_supported(machine: str) -> bool:
    return machine in _ARCHES


@functools.lru_cache(maxsize=None)
def seccomp_program(machine: str, deny_fork: bool) -> bytes:
    """The BPF filter for `machine` (os.uname().machine) as packed sock_filter structs (built
    once, in the server, before it forks runners)."""
    audit_arch, refused, clone, clone3, forks = _ARCHES[machine]
    eperm, eagain = _ERRNO | errno.EPERM, _ERRNO | errno.EAGAIN
    prog = [(_LD_ABS, 0, 0, 4), (_JEQ, 1, 0, audit_arch), (_RET, 0, 0, _KILL),  # arch, else kill
            (_LD_ABS, 0, 0, 0),  # the syscall number
            (_JGE, 0, 1, _X32_BIT), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]  # x32 calls
    for nr in sorted(refused.values()):
        prog += [(_JEQ, 0, 1, nr), (_RET, 0, 0, eperm)]
    prog += [(_JEQ, 0, 1, clone3), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]
    for nr in forks if deny_fork else ():
        prog += [(_JEQ, 0, 1, nr), (_RET, 0, 0, eagain)]
    flags = [(_LD_ABS, 0, 0, 16),  # clone's flags: the low half of args[0]
             (_JSET, 0, 1, _CLONE_NAMESPACES), (_RET, 0, 0, eperm)]
    if deny_fork:
        flags += [(_JSET, 1, 0, _CLONE_THREAD), (_RET, 0, 0, eagain)]
    flags.append((_RET, 0, 0, _ALLOW))
    prog += [(_JEQ, 0, len(flags), clone), *flags, (_RET, 0, 0, _ALLOW)]
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def install_seccomp(machine: str, deny_fork: bool, libc) -> bool:
    """Install the filter on this process (no_new_privs must be set); False if not possible."""
    if not seccomp_supported(machine):
        return False
    code = seccomp_program(machine, deny_fork)
    buf = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(len(code) // 8, ctypes.addressof(buf))
    ulong = ctypes.c_ulong
    return libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ulong(SECCOMP_MODE_FILTER),
                      ulong(ctypes.addressof(prog)), ulong(0), ulong(0)) == 0
