# All metadata lives in pyproject.toml; this file only wires the cffi builder
# and the wheel's ABI tag.
import sysconfig

from setuptools import setup

# cffi builds the extension against the limited API (it is _fastsig.abi3.so),
# so one cp39-abi3 wheel serves every CPython from 3.9 on. The free-threaded
# build has no limited API before 3.15: cffi builds a version-specific module
# there, and setuptools refuses an abi3 tag for it, so the tag stays the
# interpreter's own (cp314t).
options = {}
if not sysconfig.get_config_var("Py_GIL_DISABLED"):
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

setup(cffi_modules=["src/fastsig/_build.py:ffibuilder"], options=options)
