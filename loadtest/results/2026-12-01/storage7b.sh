#!/bin/bash
# Two more interleaved pairs of storage7.sh, on a quieter box (nothing else
# running), same binaries and command.
R=$(cd "$(dirname "$0")" && pwd)
OLD=/tmp/bench/sb-old; SB=/tmp/bench/sb-s7; LT=/tmp/bench/lt-s3
W=/tmp/bench/s7b; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage7-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start-b
for i in 4 5; do
  stamp new-memory-$i; $LT $C --switchboard-bin $SB --work-dir $W/new-memory-$i --server-arg=--memory --server-arg=--max-connections-per-address=0 > $R/s7-chats-new-memory-$i.txt 2>&1
  stamp old-memory-$i; $LT $C --switchboard-bin $OLD --work-dir $W/old-memory-$i > $R/s7-chats-old-memory-$i.txt 2>&1
done
stamp done-b
