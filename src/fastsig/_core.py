"""The one module that touches the C core: ``ffi`` and ``lib`` are used only here.

Everything in this module takes values that are already validated (ints, signal
masks as 64-bit ints, timeouts in ns with -1 for "forever") and turns C failures
into exceptions naming the syscall. Argument checking and friendly types live in
the modules above it.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._errors import os_error, send_error
from ._fastsig import ffi, lib

FEATURES: int = lib.fs_features()
HAVE_SIGNALFD = bool(FEATURES & lib.FS_HAVE_SIGNALFD)
HAVE_PIDFD = bool(FEATURES & lib.FS_HAVE_PIDFD)
HAVE_PTHREAD_SIGQUEUE = bool(FEATURES & lib.FS_HAVE_PTHREAD_SIGQUEUE)
SIGRTMIN: int = lib.fs_sigrtmin()
SIGRTMAX: int = lib.fs_sigrtmax()
NSIG = 65  # signals 1..64, the width of the C core's masks
# The widths of sigval (its pointer view) and pthread_t, for range checks.
POINTER_BITS: int = 8 * ffi.sizeof("void *")
ULONG_BITS: int = 8 * ffi.sizeof("unsigned long")
CHAIN = lib.FS_CHAIN
ONESHOT = lib.FS_ONESHOT
FLAGS_AUTO = lib.FS_FLAGS_AUTO
# The sigaction flags a Listener may ask for, by name.
LISTENER_FLAGS = {name: getattr(lib, name)
                  for name in ("SA_NOCLDSTOP", "SA_NOCLDWAIT", "SA_NODEFER", "SA_ONSTACK", "SA_RESTART")}
# The core's fs_api table, handed to fastsig._fast (csrc/python/_fast.c).
API_ADDRESS: int = lib.fs_api_address()

SI_CODES = {
    name: getattr(lib, name)
    for name in ("SI_USER", "SI_KERNEL", "SI_QUEUE", "SI_TIMER", "SI_MESGQ",
                 "SI_ASYNCIO", "SI_SIGIO", "SI_TKILL")
}
# Positive si_code values, whose meaning depends on the signal.
SIGNAL_CODES = {
    prefix: {name: getattr(lib, name) for name in dir(lib) if name.startswith(prefix + "_")}
    for prefix in ("CLD", "SEGV", "BUS", "FPE", "ILL", "POLL")
}
SIG_BLOCK: int = lib.SIG_BLOCK
SIG_UNBLOCK: int = lib.SIG_UNBLOCK
SIG_SETMASK: int = lib.SIG_SETMASK


def _fail(syscall: str) -> OSError:
    return os_error(ffi.errno, syscall)


def strsignal(sig: int) -> Optional[str]:
    text = lib.fs_strsignal(sig)
    if text == ffi.NULL:
        return None
    name = ffi.string(text)
    return name.decode() if isinstance(name, bytes) else name


# ---- sending ---------------------------------------------------------------

def _send_fail(syscall: str, sent: int = 0) -> OSError:
    return send_error(ffi.errno, syscall, sent)


def kill(pid: int, sig: int) -> None:
    if lib.fs_kill(pid, sig) < 0:
        raise _fail("kill")


def raise_signal(sig: int) -> None:
    if lib.fs_raise(sig) < 0:
        raise _fail("raise")


def sigqueue(pid: int, sig: int, value: int) -> None:
    if lib.fs_sigqueue(pid, sig, value) < 0:
        raise _send_fail("sigqueue")


class BulkSender:
    """sigqueue_many's state: the sent counter, reused."""

    def __init__(self) -> None:
        self._sent = ffi.new("size_t *")

    def send_values(self, pid: int, sig: int, values: array[int], first: int,
                    timeout_ns: int) -> int:
        """Send values[first:] (an array('q'), used in place, not copied)."""
        buf = ffi.from_buffer("int64_t[]", values)
        rc = lib.fs_sigqueue_many(pid, sig, buf + first, len(values) - first, timeout_ns,
                                  self._sent)
        return self._result(rc)

    def send_range(self, pid: int, sig: int, first: int, n: int, timeout_ns: int) -> int:
        rc = lib.fs_sigqueue_range(pid, sig, first, n, timeout_ns, self._sent)
        return self._result(rc)

    def _result(self, rc: int) -> int:
        sent = int(self._sent[0])
        if rc < 0:
            raise _send_fail("sigqueue", sent)
        return sent


def pthread_kill(thread_id: int, sig: int) -> None:
    if lib.fs_pthread_kill(thread_id, sig) < 0:
        raise _fail("pthread_kill")


def pthread_sigqueue(thread_id: int, sig: int, value: int) -> None:
    if lib.fs_pthread_sigqueue(thread_id, sig, value) < 0:
        raise _send_fail("pthread_sigqueue")


def pidfd_send_signal(pidfd: int, sig: int, value: Optional[int], flags: int = 0) -> None:
    if lib.fs_pidfd_send_signal(pidfd, sig, value is not None, value or 0, flags) < 0:
        raise _send_fail("pidfd_send_signal")


# ---- masks -----------------------------------------------------------------

def pthread_sigmask(how: int, mask: int) -> int:
    old = ffi.new("uint64_t *")
    if lib.fs_pthread_sigmask(how, mask, old) < 0:
        raise _fail("pthread_sigmask")
    return int(old[0])


def sigprocmask(how: int, mask: int) -> int:
    old = ffi.new("uint64_t *")
    if lib.fs_sigprocmask(how, mask, old) < 0:
        raise _fail("sigprocmask")
    return int(old[0])


def sigpending() -> int:
    pending = ffi.new("uint64_t *")
    if lib.fs_sigpending(pending) < 0:
        raise _fail("sigpending")
    return int(pending[0])


# ---- records ---------------------------------------------------------------

class Batch:
    """A preallocated array of fs_info, the landing zone of every receive path."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.cdata = ffi.new("fs_info[]", capacity)
        self._address = int(ffi.cast("uintptr_t", self.cdata))

    def address(self) -> int:
        """Where the records are, for fastsig._fast."""
        return self._address


# ---- waiting ---------------------------------------------------------------

def sigwaitinfo_many(mask: int, batch: Batch, max_records: int, timeout_ns: int) -> int:
    """Records land in batch; returns how many (0: timed out). EINTR is raised
    as InterruptedError so the caller can retry with the remaining time."""
    n = lib.fs_sigwaitinfo_many(mask, batch.cdata, max_records, timeout_ns)
    if n < 0:
        raise _fail("sigtimedwait" if timeout_ns >= 0 else "sigwaitinfo")
    return int(n)


class RoundTrip:
    """One send-then-wait round trip per C call, its arguments preallocated."""

    def __init__(self, pid: int, sig: int, wait_mask: int, timeout_ns: int) -> None:
        self._args: Any = ffi.new("fs_exchange *", {
            "pid": pid, "sig": sig, "wait_set": wait_mask, "timeout_ns": timeout_ns,
        })
        self.batch = Batch(1)

    def once(self, value: int) -> int:
        self._args.value = value
        return self.result(lib.fs_exchange_once(self._args, self.batch.cdata), ffi.errno)

    def result(self, n: int, err: int) -> int:
        """fs_exchange_once()'s n (with the errno it left) as a record count,
        or the exception: -1 the send failed, -2 the wait did."""
        if n == -1:
            raise send_error(err, "sigqueue")
        if n < 0:
            raise os_error(err, "sigtimedwait" if self._args.timeout_ns >= 0 else "sigwaitinfo")
        return int(n)

    def address(self) -> int:
        """Where the arguments are, for fastsig._fast."""
        return int(ffi.cast("uintptr_t", self._args))


def signalfd(fd: int, mask: int, nonblock: bool) -> int:
    new_fd = lib.fs_signalfd(fd, mask, nonblock)
    if new_fd < 0:
        raise _fail("signalfd")
    return int(new_fd)


# ---- the ring --------------------------------------------------------------

class Ring:
    """Owns one C ring, freed with the object (or by free()): a read holds the
    Ring while it uses the memory, so a close() in another thread, which
    drops its own reference, never frees it under the read."""

    def __init__(self, capacity: int) -> None:
        ptr = lib.fs_ring_new(capacity)
        if ptr == ffi.NULL:
            raise _fail("fs_ring_new")
        self._ptr: Any = ptr
        self.address = int(ffi.cast("uintptr_t", ptr))  # for fastsig._fast.ring_read
        self._counts = ffi.new("uint64_t[3]")

    @property
    def fd(self) -> int:
        """The wake-up fd, to poll: from now on every drain that runs dry arms it."""
        return int(lib.fs_ring_fd(self._ptr))

    def attach(self, sig: int, options: int, sa_flags: int) -> None:
        if lib.fs_ring_attach(self._ptr, sig, options, sa_flags) < 0:
            raise _fail("sigaction")

    def detach(self, sig: int) -> None:
        if lib.fs_ring_detach(self._ptr, sig) < 0:
            raise _fail("sigaction")

    def drain(self, batch: Batch, max_records: int) -> int:
        return int(lib.fs_ring_drain(self._ptr, batch.cdata, max_records))

    def interrupt(self) -> None:
        lib.fs_ring_interrupt(self._ptr)

    def shutdown(self) -> None:
        lib.fs_ring_shutdown(self._ptr)

    def counts(self, sig: int) -> Tuple[int, int, int]:
        c = self._counts
        lib.fs_ring_counts(self._ptr, sig, c, c + 1, c + 2)
        return int(c[0]), int(c[1]), int(c[2])

    @contextlib.contextmanager
    def reading(self) -> Iterator[bool]:
        """Count a read in for close() (False: closing, not counted)."""
        reading = ffi.new("fs_reading *")
        if lib.fs_ring_enter(self._ptr, reading) < 0:
            yield False
            return
        try:
            yield True
        finally:
            lib.fs_ring_leave(reading)

    def readers_elsewhere(self) -> int:
        """Reads in progress on other threads than the caller's."""
        return int(lib.fs_ring_readers_elsewhere(self._ptr))

    def free(self) -> None:
        """Detach every signal and release the memory and the fd, now."""
        if self._ptr is not None:
            lib.fs_ring_free(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        if getattr(self, "_ptr", None) is not None:  # __init__ may have failed
            self.free()


def redeliver(batch: Batch, n: int) -> int:
    """Queue the first n records of batch to the calling thread again, in
    order; how many the kernel took."""
    return int(lib.fs_redeliver(batch.cdata, n))


def handler_installed(sig: int) -> bool:
    return bool(lib.fs_handler_installed(sig))


def release_held(mask: int) -> None:
    """Unblock what the handler held back in the calling thread, of mask."""
    lib.fs_release_held(mask)


# ---- dispositions (actions.c) ------------------------------------------------

SA_NOCLDSTOP: int = lib.SA_NOCLDSTOP
SA_NOCLDWAIT: int = lib.SA_NOCLDWAIT
SA_NODEFER: int = lib.SA_NODEFER
SA_ONSTACK: int = lib.SA_ONSTACK
SA_RESTART: int = lib.SA_RESTART
SA_SIGINFO: int = lib.SA_SIGINFO
SA_RESETHAND: int = lib.SA_RESETHAND
DEFAULT_ACTIONS = {
    lib.FS_DFL_TERM: "terminate",
    lib.FS_DFL_CORE: "core",
    lib.FS_DFL_STOP: "stop",
    lib.FS_DFL_CONT: "continue",
    lib.FS_DFL_IGN: "ignore",
}
ACTION_KINDS = {
    lib.FS_ACTION_DEFAULT: "default",
    lib.FS_ACTION_IGNORE: "ignore",
    lib.FS_ACTION_FASTSIG: "fastsig",
    lib.FS_ACTION_HANDLER: "c",
}
_ACTION_SIZE: int = lib.fs_action_size()
# (kind, flags, handler address, mask): a kernel action as plain ints.
KernelAction = Tuple[str, int, int, int]


def _kernel_action(action: Any) -> KernelAction:
    return ACTION_KINDS[action.kind], int(action.flags), int(action.handler), int(action.mask)


def default_action(sig: int) -> str:
    return DEFAULT_ACTIONS[lib.fs_default_action(sig)]


def emulate_default(sig: int) -> None:
    if lib.fs_emulate_default(sig) < 0:
        raise _fail("fs_emulate_default")


def getaction(sig: int) -> KernelAction:
    out = ffi.new("fs_action *")
    if lib.fs_getaction(sig, out) < 0:
        raise _fail("sigaction")
    return _kernel_action(out)


def save_action(sig: int) -> bytes:
    """sig's whole struct sigaction, as opaque bytes for restore_action()."""
    buf = ffi.new("char[]", _ACTION_SIZE)
    if lib.fs_action_save(sig, buf) < 0:
        raise _fail("sigaction")
    return bytes(ffi.buffer(buf))


def restore_action(sig: int, saved: bytes) -> None:
    if lib.fs_action_restore(sig, ffi.from_buffer(saved)) < 0:
        raise _fail("sigaction")


def decode_action(saved: bytes) -> KernelAction:
    """What save_action()'s bytes say, as getaction() would ("fastsig" reads "c")."""
    out = ffi.new("fs_action *")
    lib.fs_action_decode(ffi.from_buffer(saved), out)
    return _kernel_action(out)


def set_disposition(sig: int, ignore: bool) -> None:
    kind = lib.FS_ACTION_IGNORE if ignore else lib.FS_ACTION_DEFAULT
    if lib.fs_set_disposition(sig, kind) < 0:
        raise _fail("sigaction")


def in_python_image(address: int) -> bool:
    return bool(lib.fs_in_python_image(address))


# ---- sources: POSIX timers, F_SETSIG, pidfd_open, the parent-death signal ----

HAVE_TIMER = bool(FEATURES & lib.FS_HAVE_TIMER)
HAVE_SETSIG = bool(FEATURES & lib.FS_HAVE_SETSIG)
HAVE_PIDFD_OPEN = bool(FEATURES & lib.FS_HAVE_PIDFD_OPEN)
HAVE_PDEATHSIG = bool(FEATURES & lib.FS_HAVE_PDEATHSIG)
CLOCKS = {
    "realtime": lib.FS_CLOCK_REALTIME,
    "monotonic": lib.FS_CLOCK_MONOTONIC,
    "boottime": lib.FS_CLOCK_BOOTTIME,
    "process": lib.FS_CLOCK_PROCESS_CPUTIME,
    "thread": lib.FS_CLOCK_THREAD_CPUTIME,
}
PIDFD_SCOPES = {
    "thread": lib.FS_PIDFD_SIGNAL_THREAD,
    "process": lib.FS_PIDFD_SIGNAL_THREAD_GROUP,
    "group": lib.FS_PIDFD_SIGNAL_PROCESS_GROUP,
}


def timer_create(clock: int, sig: int, value: int, tid: int) -> int:
    """A POSIX timer signalling sig (to thread tid, or the process if 0); its kernel id."""
    timerid = ffi.new("int32_t *")
    if lib.fs_timer_create(clock, sig, value, tid, timerid) < 0:
        raise _fail("timer_create")
    return int(timerid[0])


def timer_settime(timerid: int, initial_ns: int, interval_ns: int) -> None:
    if lib.fs_timer_settime(timerid, initial_ns, interval_ns) < 0:
        raise _fail("timer_settime")


def timer_gettime(timerid: int) -> Tuple[int, int]:
    """(ns until the next expiry, 0 if disarmed; the interval in ns)."""
    out = ffi.new("int64_t[2]")
    if lib.fs_timer_gettime(timerid, out, out + 1) < 0:
        raise _fail("timer_gettime")
    return int(out[0]), int(out[1])


def timer_getoverrun(timerid: int) -> int:
    n = lib.fs_timer_getoverrun(timerid)
    if n < 0:
        raise _fail("timer_getoverrun")
    return int(n)


def timer_delete(timerid: int) -> None:
    if lib.fs_timer_delete(timerid) < 0:
        raise _fail("timer_delete")


def notify_fd(fd: int, sig: int, tid: int) -> None:
    if lib.fs_notify_fd(fd, sig, tid) < 0:
        raise _fail("fcntl(F_SETSIG)")


def stop_notify(fd: int) -> None:
    if lib.fs_stop_notify(fd) < 0:
        raise _fail("fcntl(F_SETSIG)")


def pidfd_open(pid: int, thread: bool) -> int:
    fd = lib.fs_pidfd_open(pid, thread)
    if fd < 0:
        raise _fail("pidfd_open")
    return int(fd)


def pidfd_open_errno(pid: int, thread: bool) -> int:
    """0 if pidfd_open(pid, thread) works here (the fd is closed again), else its errno."""
    fd = lib.fs_pidfd_open(pid, thread)
    if fd < 0:
        return int(ffi.errno)
    os.close(fd)
    return 0


def pidfd_send_signal_errno(pidfd: int, sig: int, flags: int) -> int:
    """The errno of a pidfd_send_signal() (0 if it worked), for probing the kernel."""
    if lib.fs_pidfd_send_signal(pidfd, sig, 0, 0, flags) < 0:
        return int(ffi.errno)
    return 0


def set_pdeathsig(sig: int) -> None:
    if lib.fs_set_pdeathsig(sig) < 0:
        raise _fail("prctl(PR_SET_PDEATHSIG)")


def get_pdeathsig() -> int:
    sig = ffi.new("int *")
    if lib.fs_get_pdeathsig(sig) < 0:
        raise _fail("prctl(PR_GET_PDEATHSIG)")
    return int(sig[0])


# ---- bench: the pure-C references of csrc/refbench.c ------------------------

REF_SIGWAITINFO: int = lib.FS_REF_SIGWAITINFO
REF_SIGNALFD: int = lib.FS_REF_SIGNALFD
REF_HANDLER: int = lib.FS_REF_HANDLER
REF_TAKE: int = lib.FS_REF_TAKE
_REF_SENT_FIELDS = ("sent", "eagain", "start_ns", "end_ns")
_REF_RECV_FIELDS = ("received", "unique", "out_of_order", "duplicates", "foreign",
                    "first_ns", "last_ns", "end_ns", "start_ns")


def ref_flood(pid: int, sig: int, n: int, end_sig: int, glibc: bool = False,
              kill: bool = False) -> Dict[str, int]:
    """C sender: values 0..n-1 on sig, then -1 on end_sig (0: none); with
    kill, n kill() calls instead, which carry no value."""
    out = ffi.new("fs_ref_sent *")
    flags = (lib.FS_REF_GLIBC if glibc else 0) | (lib.FS_REF_KILL if kill else 0)
    if lib.fs_ref_flood(pid, sig, n, end_sig, flags, out) < 0:
        raise _fail("sigqueue")
    return {name: int(getattr(out, name)) for name in _REF_SENT_FIELDS}


def ref_receive(kind: int, sig: int, end_sig: int, n: int, idle_ns: int,
                ready_fd: int) -> Dict[str, int]:
    """C receiver of a flood; writes a byte to ready_fd once set up."""
    out = ffi.new("fs_ref_recv *")
    if lib.fs_ref_receive(kind, sig, end_sig, n, idle_ns, ready_fd, out) < 0:
        raise _fail("fs_ref_receive")
    return {name: int(getattr(out, name)) for name in _REF_RECV_FIELDS}


def ref_pingpong(peer: int, send_sig: int, wait_sig: int, rounds: int, timeout_ns: int,
                 client: bool) -> List[int]:
    """C ping-pong; a client returns each round trip in ns, a server []."""
    rtts = ffi.new("int64_t[]", rounds) if client else ffi.NULL
    done = lib.fs_ref_pingpong(peer, send_sig, wait_sig, rounds, timeout_ns, rtts)
    if done < 0:
        raise _fail("fs_ref_pingpong")
    return list(rtts[0:done]) if client else []
