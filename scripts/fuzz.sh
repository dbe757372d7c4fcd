#!/usr/bin/env bash
# Runs each coverage-guided fuzzer of fuzz/ (cargo fuzz, libFuzzer) for a
# bounded time, starting from the seed corpus in fuzz/seeds/TARGET plus what
# earlier runs on this machine found (fuzz/corpus/TARGET, not in git).
#
# cargo fuzz needs a nightly toolchain (libFuzzer's coverage instrumentation
# is a nightly-only compiler flag): without one this fails, saying so, rather
# than pass without fuzzing. cargo-fuzz is installed if missing.
#
# A crash fails the script; libFuzzer prints the input and leaves it in
# fuzz/artifacts/TARGET/. Make it a regression test in
# tests/fuzz_regressions.rs, then fix the bug.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 25 s, every target)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-25}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(console_frame visitor_frame http_body directory_file)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "scripts/fuzz.sh: no nightly Rust toolchain, which cargo fuzz needs;" >&2
  echo "  install one with: rustup toolchain install nightly --profile minimal" >&2
  echo "  (the fuzzers did NOT run)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

for t in "${targets[@]}"; do
  echo "== fuzzing $t for ${seconds} s"
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1
done
echo "== fuzzers: ${#targets[@]} targets ran ${seconds} s each without a crash"
