#!/usr/bin/env bash
# Runs every cargo-fuzz target in shared/fuzz for a bounded time each.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 30) each
#   FUZZ_SECONDS=300 scripts/fuzz.sh proxy_any
#
# Targets come from `cargo fuzz list`, so a new [[bin]] in shared/fuzz/Cargo.toml is picked up
# without editing this script. Seeds are read from shared/fuzz/corpus/<target>/ (committed);
# new inputs libFuzzer finds go to shared/fuzz/scratch/<target>/ (ignored), so a run never
# changes the committed corpus. Crashes land in shared/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_DIR=shared/fuzz

step() { printf '\n==> %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# libFuzzer instrumentation needs nightly-only rustc flags (-Zsanitizer). Rather than
# require a second toolchain, let the pinned stable compiler accept them: RUSTC_BOOTSTRAP=1 is
# scoped to this script's cargo invocations and is verified to work with cargo-fuzz.
export RUSTC_BOOTSTRAP=1

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$FUZZ_DIR")
fi

for target in "${targets[@]}"; do
    step "fuzzing $target for ${FUZZ_SECONDS}s"
    scratch="$FUZZ_DIR/scratch/$target"
    seeds="$FUZZ_DIR/corpus/$target"
    mkdir -p "$scratch" "$seeds"
    # -max_total_time bounds the run; -timeout flags a single input that takes over 10s;
    # -rss_limit_mb catches unbounded allocation.
    cargo fuzz run --fuzz-dir "$FUZZ_DIR" "$target" "$scratch" "$seeds" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
done
step "all ${#targets[@]} fuzz targets ran ${FUZZ_SECONDS}s without a finding"
