#!/bin/bash
# 2026-12-01, seventh round (session 2): memory mode of this session's build
# (main 0f831b3, sb-s7: live administration, idempotency keys, connection
# hygiene) against the previous release (eabe5f2, sb-old), interleaved, three
# pairs; chats at 10,000 agents and 500 chats/s, each run beside its own
# baseline, same load tool (lt-s3) for both. sb-s7 caps connections per
# client address (1,000 by default): the load tool's consoles all come from
# one address, so the cap is lifted for it.
R=$(cd "$(dirname "$0")" && pwd)
OLD=/tmp/bench/sb-old; SB=/tmp/bench/sb-s7; LT=/tmp/bench/lt-s3
W=/tmp/bench/s7; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage7-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
for i in 1 2 3; do
  stamp new-memory-$i; $LT $C --switchboard-bin $SB --work-dir $W/new-memory-$i --server-arg=--memory --server-arg=--max-connections-per-address=0 > $R/s7-chats-new-memory-$i.txt 2>&1
  stamp old-memory-$i; $LT $C --switchboard-bin $OLD --work-dir $W/old-memory-$i > $R/s7-chats-old-memory-$i.txt 2>&1
done
stamp done
