#!/bin/bash
# 2026-12-02: the cost of the integration event journal (merge 0250d8a,
# sb-after) against the build before it (589b0b9, sb-before): chats at
# 10,000 agents and 500 chats/s, embedded (default) and memory modes,
# interleaved, each run beside its own baseline. No integration has webhook
# URLs: this measures what every node pays to derive and write events.
R=$(cd "$(dirname "$0")" && pwd)
BEFORE=/tmp/bench/sb-before; AFTER=/tmp/bench/sb-after; LT=/tmp/bench/lt
W=/tmp/bench/ev; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/events-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
for i in ${ROUNDS:-1}; do
  stamp before-embedded-$i; $LT $C --switchboard-bin $BEFORE --work-dir $W/be-$i > $R/events-before-embedded-$i.txt 2>&1
  stamp after-embedded-$i;  $LT $C --switchboard-bin $AFTER --work-dir $W/ae-$i > $R/events-after-embedded-$i.txt 2>&1
  stamp before-memory-$i;   $LT $C --switchboard-bin $BEFORE --work-dir $W/bm-$i --server-arg=--memory > $R/events-before-memory-$i.txt 2>&1
  stamp after-memory-$i;    $LT $C --switchboard-bin $AFTER --work-dir $W/am-$i --server-arg=--memory > $R/events-after-memory-$i.txt 2>&1
done
stamp done
# Run by hand after it (00:14 UTC), to tell the disk from the code: round 6's
# build of BENCHMARKS.md §10 (sb-s5ck), embedded, same command:
#   $LT $C --switchboard-bin /tmp/bench/sb-s5ck --work-dir $W/s5ck-embedded > $R/events-s5ck-embedded.txt
# and a bare fsync probe (200 fsyncs of 4 KiB, appended to events-steps.txt).
