#!/bin/bash
# Every benchmark in a row, for a quiet machine; each writes its output to $BENCH_LOGS/bench-<name>.log.
cd "$(dirname "$0")/.."
mkdir -p "${BENCH_LOGS:-/tmp}"
py=.venv/bin/python
run() { name=$1; shift; echo "== $(date -u +%H:%M:%S) $name (load $(cut -d' ' -f1 /proc/loadavg))"; "$@" > "${BENCH_LOGS:-/tmp}/bench-$name.log" 2>&1; echo "   rc=$? $(date -u +%H:%M:%S)"; }
run audit_verify $py benchmarks/bench_audit_verify.py --lots 20000 --repeat 3 --keep /tmp/v20k
run audit_verify_pg $py benchmarks/bench_audit_verify.py --lots 20000 --repeat 3 --backend postgresql
run cli_startup $py benchmarks/bench_cli_startup.py --runs 15
run write_path $py benchmarks/bench_write_path.py --n 500
run load_sqlite $py benchmarks/load.py --writers 8 --seconds 20 --backend sqlite --baseline
run load_pg $py benchmarks/load.py --writers 8 --seconds 20 --backend postgresql --bare --floor
run login_lock $py benchmarks/bench_login_lock.py
run login_lock_pg $py benchmarks/bench_login_lock.py --backend postgresql
run tui_10k $py benchmarks/bench_tui.py --lots 10000 --runs 7 --home /tmp/tui10k
run worklist $py benchmarks/bench_worklist.py --home /tmp/tui10k --runs 5
run worklist_pg $py benchmarks/bench_worklist.py --postgres 100000 --results --runs 5
run reports_100k $py benchmarks/bench_reports.py --lots 100000 --keep /tmp/r100k --import-lots 10000 --repeat 3
run tui_100k $py benchmarks/bench_tui.py --lots 100000 --runs 5 --home /tmp/tui100k
# the same lots with release results (synth.py's bulk path enters none), copied afresh each run
run tui_100k_results_setup bash -c "rm -rf /tmp/tui100k-results && cp -a /tmp/tui100k /tmp/tui100k-results && $py benchmarks/add_results.py --home /tmp/tui100k-results"
run tui_100k_results $py benchmarks/bench_tui.py --lots 100000 --runs 5 --home /tmp/tui100k-results
run reports_1m $py benchmarks/bench_reports.py --lots 1000000 --keep /tmp/r1m --import-lots 0 --repeat 3
