# The compiled cffi module (built from src/fastsig/_build.py).
#
# `lib` stays Any on purpose: its functions are the cdef of csrc/*.h, which
# grows with the C core, and fastsig._core is the one typed boundary over it
# (every value from lib leaves _core through int()/bool() or a typed class).
# `ffi` is cffi's own FFI type, from the types-cffi stubs.
# Checked against the built module by `python -m mypy.stubtest fastsig._fastsig`.
from typing import Any

import _cffi_backend

ffi: _cffi_backend.FFI
lib: Any
