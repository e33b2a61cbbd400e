#!/usr/bin/env bash
# The ring's C test (tests/c/test_ring.c) built and run three ways: plain,
# AddressSanitizer + UndefinedBehaviorSanitizer, and ThreadSanitizer; then
# fs_emulate_default() inside handlers (tests/c/test_actions.c), plain and
# with ASan+UBSan.
# Needs gcc (or clang: CC=clang) and make. Exit status: non-zero on any failure
# or sanitizer report. Usage: scripts/sanitize.sh [plain|asan|tsan|actions|actions_asan]...
set -euo pipefail
cd "$(dirname "$0")/../tests/c"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(plain asan tsan actions actions_asan)
for target in "${targets[@]}"; do
    echo "== C test: $target"
    make --no-print-directory "$target"
done
