#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, JOBS at a time (default 1), and prints a table of
# executions and crashes per target (docs/performance.md records the figures).
#
#   fuzz/run.sh 600        # ten minutes per target, one after another
#   fuzz/run.sh 60 2       # one minute each, two at a time
#
# Needs the nightly toolchain (installed with rustup if missing) and cargo-fuzz (installed
# from crates.io if missing). Each target starts from fuzz/corpus/TARGET, seeded with every
# encoding the insta snapshots freeze; crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:?usage: fuzz/run.sh SECONDS [JOBS]}
jobs=${2:-1}
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "SECONDS must be a positive integer, got '$secs'" >&2; exit 2; }
[[ $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || { echo "JOBS must be a positive integer, got '$jobs'" >&2; exit 2; }

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

cargo +nightly fuzz build >/dev/null
mapfile -t targets < <(cargo +nightly fuzz list)

# Seeds: every hex line of every snapshot (valid wfrost packages and signatures, engine and
# sync messages, a transaction, a block header). Targets refuse what is not theirs quickly.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
i=0
while read -r line; do
  printf '%s' "$line" | xxd -r -p > "$seeds/seed-$i"
  i=$((i + 1))
done < <(cat ../*/tests/snapshots/*.snap | grep -E '^([0-9a-f]{2})+$' || true)

mkdir -p logs
run_one() {
  local t=$1 secs=$2 seeds=$3
  mkdir -p "corpus/$t" "artifacts/$t"
  cp -n "$seeds"/* "corpus/$t/" 2>/dev/null || true
  # -rss_limit_mb: the decoders allocate only what their caps allow; a blow-up is a finding.
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || true
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$secs" "$seeds"

echo "| target | seconds | executions | execs/s | corpus | crashes |"
echo "|---|---|---|---|---|---|"
status=0
for t in "${targets[@]}"; do
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$' | tail -1)
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$' | tail -1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  [[ $crashes -eq 0 ]] || status=1
  echo "| $t | $secs | ${execs:-?} | ${rate:-?} | $corpus | $crashes |"
done
exit $status
