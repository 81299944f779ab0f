#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# install what is missing, start the real services (unless already running),
# check formatting, module structure and lints, run every unit and
# integration test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
started=$SECONDS

"$REPO/scripts/install.sh"

if "$REPO/scripts/services.sh" status >/dev/null 2>&1; then
    log "services already running: using them"
else
    "$REPO/scripts/services.sh" start
    trap '"$REPO/scripts/services.sh" stop' EXIT
fi
eval "$("$REPO/scripts/services.sh" env)"

log "cargo fmt --check"
cargo fmt --all -- --check
log "no import circle between modules (and the guard can fail)"
python3 scripts/tools/test_module_cycles.py
python3 scripts/tools/module_cycles.py
log "the Prometheus alert rules (promtool)"
"$PROMTOOL" check rules deploy/prometheus/lambda-sink-alerts.yml
"$PROMTOOL" test rules deploy/prometheus/lambda-sink-alerts.test.yml
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
log "cargo test"
cargo test --workspace --locked

log "all tests passed in $((SECONDS - started)) s"
