#!/usr/bin/env bash
# Fuzzes lambda-sink-core's decoders with cargo-fuzz (libFuzzer, nightly):
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh avro 600         one target for 10 minutes
# Targets: wire (Confluent header, message indexes), avro, protobuf, json.
# Prints each target's executions; a crash stops with the reproducer in
# fuzz/artifacts/<target>/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO/fuzz"
FUZZ=$CACHE/cargo-fuzz/bin/cargo-fuzz
if [[ ! -x $FUZZ ]]; then
    log "installing cargo-fuzz into $CACHE/cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet --root "$CACHE/cargo-fuzz"
fi
targets=(${1:-wire avro protobuf json})
seconds=${2:-60}
for t in "${targets[@]}"; do
    log "fuzzing $t for $seconds s"
    mkdir -p "corpus/$t"
    mkdir -p "artifacts/$t"
    if ! out=$(rustup run nightly "$FUZZ" fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>&1); then
        echo "$out" >"artifacts/$t/last-run.log"
        grep -E "panicked|ERROR|SUMMARY|Failing input" -A2 <<<"$out" | head -20
        die "$t: crash; reproducer and full log in fuzz/artifacts/$t/"
    fi
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' <<<"$out" | grep -o '[0-9]*$')
    log "$t: $runs executions in $seconds s, no crash"
done
