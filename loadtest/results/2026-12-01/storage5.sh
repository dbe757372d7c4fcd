#!/bin/bash
# 2026-12-01, fifth round, once nothing else ran on the box: the build of
# b045ea1 (sb-s4) in embedded, memory and Redis (appendfsync always) modes and
# the previous release (eabe5f2, sb-old, in memory), interleaved; chats at
# 10,000 agents and 500 chats/s, each run beside its own baseline. Before
# each Switchboard run, the box's bare fsync latency (200 fsyncs of 4 KiB).
R=$(cd "$(dirname "$0")" && pwd)
OLD=/tmp/bench/sb-old; SB=/tmp/bench/sb-s4; LT=/tmp/bench/lt-s3
W=/tmp/bench/s5; rm -rf $W; mkdir -p $W/redis
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage5-steps.txt; }
fsyncs() { python3 -c "
import os,time
fd=os.open('$W/fsync-test',os.O_CREAT|os.O_WRONLY)
ts=[]
for i in range(200):
    os.write(fd,b'x'*4096); t=time.perf_counter(); os.fsync(fd); ts.append(time.perf_counter()-t)
ts.sort(); print('bare fsync ms p50 %.3f p90 %.3f p99 %.3f max %.3f'%(ts[100]*1e3,ts[180]*1e3,ts[198]*1e3,ts[-1]*1e3))
" >> $R/storage5-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
for i in 1 2; do
  fsyncs; stamp embedded-$i;  $LT $C --switchboard-bin $SB --work-dir $W/embedded-$i > $R/s5-chats-embedded-$i.txt 2>&1
  stamp new-memory-$i;        $LT $C --switchboard-bin $SB --work-dir $W/new-memory-$i --server-arg=--memory > $R/s5-chats-new-memory-$i.txt 2>&1
  stamp old-memory-$i;        $LT $C --switchboard-bin $OLD --work-dir $W/old-memory-$i > $R/s5-chats-old-memory-$i.txt 2>&1
done
redis-server --port 16395 --dir $W/redis --appendonly yes --appendfsync always --save '' --daemonize yes --logfile $W/redis/redis.log
sleep 1
fsyncs; stamp new-redis; $LT $C --switchboard-bin $SB --work-dir $W/new-redis --server-arg=--redis-url=redis://127.0.0.1:16395/ > $R/s5-chats-new-redis.txt 2>&1
redis-cli -p 16395 shutdown nosave > /dev/null 2>&1
stamp done
