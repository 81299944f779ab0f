#!/usr/bin/env bash
# The fault suite at full size (CI runs the short version inside
# scripts/test.sh): crashes, rebalances, a broker outage, throttling,
# function failures, bad input, SIGTERM and a large backlog, each checked by
# the zero-loss verifier. Prints a Markdown table of the figures
# (docs/guarantees.md shows the latest) and keeps the raw lines in
# target/faults/results.jsonl.
#   scripts/faults.sh           full size (about 17 minutes)
#   scripts/faults.sh short     the CI size
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
"$REPO/scripts/install.sh"
if ! "$REPO/scripts/services.sh" status >/dev/null 2>&1; then
    "$REPO/scripts/services.sh" start
    trap '"$REPO/scripts/services.sh" stop' EXIT
fi
eval "$("$REPO/scripts/services.sh" env)"
[[ ${1:-full} == short ]] || export LAMBDA_SINK_FAULTS=full
mkdir -p target/faults
out=target/faults/results.jsonl
log "fault suite (${LAMBDA_SINK_FAULTS:-short}); raw output in target/faults/run.log"
cargo test --release --locked -p lambda-sink --test faults -- --test-threads=1 --nocapture \
    >target/faults/run.log 2>&1 || { tail -40 target/faults/run.log; die "the fault suite failed"; }
grep -o 'FAULT-RESULT .*' target/faults/run.log | cut -d' ' -f2- >"$out"
"$PYTHON" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cols = ["records", "lost", "without_outcome", "duplicate_invocations", "dlq", "seconds"]
print("| scenario | " + " | ".join(c.replace("_", " ") for c in cols) + " | other |")
print("|---" * (len(cols) + 2) + "|")
for r in rows:
    other = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.items()
                      if k not in cols and k not in ("scenario", "duplicate_outcomes"))
    print(f"| {r['scenario']} | " + " | ".join(str(r[c]) for c in cols) + f" | {other} |")
PY
