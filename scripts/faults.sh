#!/usr/bin/env bash
# The fault suite at full size (CI runs the short version inside
# scripts/test.sh): crashes, rebalances, a broker outage, throttling,
# function failures, bad input, SIGTERM and a large backlog, each checked by
# the zero-loss verifier. Prints a Markdown table of the figures
# (docs/guarantees.md shows the latest) and keeps the raw lines in
# target/faults/results.jsonl.
#   scripts/faults.sh                  full size (about 30 minutes)
#   scripts/faults.sh short            the CI size
#   scripts/faults.sh repeat N FILTER  the scenarios whose test name contains
#                                      FILTER, N times in a row at full size
#                                      (an interleaving that one run rarely
#                                      hits); every run's row in the table
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
"$REPO/scripts/install.sh"
if ! "$REPO/scripts/services.sh" status >/dev/null 2>&1; then
    "$REPO/scripts/services.sh" start
    trap '"$REPO/scripts/services.sh" stop' EXIT
fi
eval "$("$REPO/scripts/services.sh" env)"
mode=${1:-full}
runs=1 filter=()
case $mode in
short) ;;
full) export LAMBDA_SINK_FAULTS=full ;;
repeat)
    [[ $# -eq 3 && $2 =~ ^[0-9]+$ ]] || die "usage: scripts/faults.sh repeat N FILTER (N runs of the scenarios whose test name contains FILTER)"
    export LAMBDA_SINK_FAULTS=full
    runs=$2 filter=("$3")
    ;;
*) die "unknown mode $mode: full (the default), short, or repeat N FILTER" ;;
esac
mkdir -p target/faults
out=target/faults/results.jsonl
log "fault suite (${LAMBDA_SINK_FAULTS:-short}${filter:+, $runs × ${filter[0]}}); raw output in target/faults/run.log"
: >target/faults/run.log
for ((run = 1; run <= runs; run++)); do
    cargo test --release --locked -p lambda-sink --test faults -- "${filter[@]}" --test-threads=1 --nocapture \
        >>target/faults/run.log 2>&1 || { tail -40 target/faults/run.log; die "the fault suite failed (run $run of $runs)"; }
    ((runs == 1)) || log "run $run of $runs passed"
done
grep -o 'FAULT-RESULT .*' target/faults/run.log | cut -d' ' -f2- >"$out"
"$PYTHON" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cols = ["records", "lost", "without_outcome", "duplicate_invocations", "duplicate_outcomes", "dlq", "seconds"]
print("| scenario | " + " | ".join(c.replace("_", " ") for c in cols) + " | other |")
print("|---" * (len(cols) + 2) + "|")
for r in rows:
    other = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.items()
                      if k not in cols and k != "scenario")
    print(f"| {r['scenario']} | " + " | ".join(str(r[c]) for c in cols) + f" | {other} |")
PY
