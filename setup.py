# All metadata lives in pyproject.toml; this file only wires the cffi builder.
from setuptools import setup

setup(cffi_modules=["src/fastsig/_build.py:ffibuilder"])
