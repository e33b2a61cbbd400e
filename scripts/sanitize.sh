#!/usr/bin/env bash
# The ring's C test (tests/c/test_ring.c) built and run three ways: plain,
# AddressSanitizer + UndefinedBehaviorSanitizer, and ThreadSanitizer.
# Needs gcc (or clang: CC=clang) and make. Exit status: non-zero on any failure
# or sanitizer report. Usage: scripts/sanitize.sh [plain|asan|tsan]...
set -euo pipefail
cd "$(dirname "$0")/../tests/c"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(plain asan tsan)
for target in "${targets[@]}"; do
    echo "== ring test: $target"
    make --no-print-directory "$target"
done
