# All metadata lives in pyproject.toml; this file only wires the two compiled
# modules and the wheel's ABI tag.
import sysconfig

from setuptools import Extension, setup

# Both modules are built against the limited API (_fastsig.abi3.so by cffi,
# _fast.abi3.so here), so one cp39-abi3 wheel serves every CPython from 3.9
# on. The free-threaded build has no limited API before 3.15: there both are
# version-specific modules, and setuptools refuses an abi3 tag for them, so
# the tag stays the interpreter's own (cp314t).
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
options = {}
if not FREE_THREADED:
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

# fastsig._fast: the per-call hot paths as CPython builtins (csrc/python/_fast.c).
fast = Extension(
    "fastsig._fast",
    sources=["csrc/python/_fast.c"],
    include_dirs=["csrc"],
    define_macros=[("_GNU_SOURCE", "1")] + ([] if FREE_THREADED else [("Py_LIMITED_API", "0x03090000")]),
    py_limited_api=not FREE_THREADED,
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-O2"],
)

setup(cffi_modules=["src/fastsig/_build.py:ffibuilder"], ext_modules=[fast], options=options)
