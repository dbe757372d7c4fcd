#!/bin/bash
# 2026-12-01, sixth round: does checkpointing every 10 s instead of every 1 s
# shorten the embedded mode's tail? sb-s4 = b045ea1 (1 s), sb-s5ck = the same
# with CHECKPOINT_EVERY = 10 s; interleaved, chats at 10,000 agents, 500/s.
R=$(cd "$(dirname "$0")" && pwd)
A=/tmp/bench/sb-s4; B=/tmp/bench/sb-s5ck; LT=/tmp/bench/lt-s3
W=/tmp/bench/s6; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage6-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
for i in 1 2; do
  stamp ck10s-$i; $LT $C --switchboard-bin $B --work-dir $W/ck10s-$i > $R/s6-chats-embedded-ck10s-$i.txt 2>&1
  stamp ck1s-$i;  $LT $C --switchboard-bin $A --work-dir $W/ck1s-$i > $R/s6-chats-embedded-ck1s-$i.txt 2>&1
done
stamp done
