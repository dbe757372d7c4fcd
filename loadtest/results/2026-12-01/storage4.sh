#!/bin/bash
# 2026-12-01, fourth round: the build of b045ea1 (the embedded store's tailer
# reads just-appended entries from memory; trims in slices; replicated
# entries handed to the engine in slices) against the previous release
# (eabe5f2, in memory), interleaved; chats at 10,000 agents and 500 chats/s,
# each run beside its own baseline.
R=$(cd "$(dirname "$0")" && pwd)
OLD=/tmp/bench/sb-old; SB=/tmp/bench/sb-s4; LT=/tmp/bench/lt-s3
W=/tmp/bench/s4; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage4-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
stamp embedded-1;   $LT $C --switchboard-bin $SB --work-dir $W/embedded-1 > $R/s4-chats-embedded-1.txt 2>&1
stamp new-memory;   $LT $C --switchboard-bin $SB --work-dir $W/new-memory --server-arg=--memory > $R/s4-chats-new-memory.txt 2>&1
stamp old-memory;   $LT $C --switchboard-bin $OLD --work-dir $W/old-memory > $R/s4-chats-old-memory.txt 2>&1
stamp embedded-2;   $LT $C --switchboard-bin $SB --work-dir $W/embedded-2 > $R/s4-chats-embedded-2.txt 2>&1
stamp done
