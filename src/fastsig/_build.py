"""cffi builder for fastsig's C core (out-of-line API mode).

The cdef is the region of ``csrc/fastsig.h`` between the cdef markers, plus the
libc constants below, whose values the compiler fills in. Run standalone to
build in place: ``python src/fastsig/_build.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent.parent.parent / "csrc"

# si_code values, named per signal where the kernel reuses small numbers.
LIBC_CONSTANTS = """
SI_USER SI_KERNEL SI_QUEUE SI_TIMER SI_MESGQ SI_ASYNCIO SI_SIGIO SI_TKILL
CLD_EXITED CLD_KILLED CLD_DUMPED CLD_TRAPPED CLD_STOPPED CLD_CONTINUED
SEGV_MAPERR SEGV_ACCERR BUS_ADRALN BUS_ADRERR BUS_OBJERR
FPE_INTDIV FPE_INTOVF FPE_FLTDIV FPE_FLTOVF FPE_FLTUND FPE_FLTRES FPE_FLTINV FPE_FLTSUB
ILL_ILLOPC ILL_ILLOPN ILL_ILLADR ILL_ILLTRP ILL_PRVOPC ILL_PRVREG ILL_COPROC ILL_BADSTK
POLL_IN POLL_OUT POLL_MSG POLL_ERR POLL_PRI POLL_HUP
SIG_BLOCK SIG_UNBLOCK SIG_SETMASK
SA_NOCLDSTOP SA_NOCLDWAIT SA_NODEFER SA_ONSTACK SA_RESTART SA_SIGINFO SA_RESETHAND
""".split()


def _cdef_region(header: Path) -> str:
    text = header.read_text()
    match = re.search(r"/\* cdef-begin \*/(.*)/\* cdef-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{header}: no cdef-begin/cdef-end markers")
    return match.group(1)


def _sources() -> list[str]:
    # Relative paths keep the build reproducible and the sdist self-contained.
    root = CSRC.parent
    return sorted(os.path.relpath(p, root) for p in CSRC.glob("*.c"))


ffibuilder = FFI()
ffibuilder.cdef(
    "".join(_cdef_region(h) for h in sorted(CSRC.glob("*.h")) if "cdef-begin" in h.read_text())
    + "".join(f"#define {name} ...\n" for name in LIBC_CONSTANTS)
)
ffibuilder.set_source(
    "fastsig._fastsig",
    '#include "fastsig.h"\n#include <signal.h>\n',
    sources=_sources(),
    include_dirs=[os.path.relpath(CSRC, CSRC.parent)],
    define_macros=[("_GNU_SOURCE", "1")],
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-O2"],
    libraries=["pthread", "dl"],  # dl: dladdr() before glibc 2.34
)

if __name__ == "__main__":
    os.chdir(CSRC.parent)
    ffibuilder.compile(tmpdir="src", verbose=True)
