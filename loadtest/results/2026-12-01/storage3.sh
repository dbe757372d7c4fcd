#!/bin/bash
# 2026-12-01, third round, the build of 219ac2d (relaxed fsyncs for heartbeats,
# audit lines and new tokens; batched replication): the chats scenario (10,000
# agents, 500 chats/s) against the previous release (eabe5f2, in memory, its
# default) and this build in memory, embedded and Redis modes, interleaved;
# each run has its own baseline measured in the same run. Then the embedded
# mode's disk use over 5 minutes at 500 chats/s.
# sb-old = switchboard of eabe5f2; sb-s3 / lt-s3 = switchboard / switchboard-loadtest of 219ac2d.
R=$(cd "$(dirname "$0")" && pwd)
OLD=/tmp/bench/sb-old; SB=/tmp/bench/sb-s3; LT=/tmp/bench/lt-s3
W=/tmp/bench/s3; rm -rf $W; mkdir -p $W/redis
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage3-steps.txt; }
C="compare --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
for i in 1 2; do
  stamp old-memory-$i;  $LT $C --switchboard-bin $OLD --work-dir $W/old-memory-$i > $R/s3-chats-old-memory-$i.txt 2>&1
  stamp new-memory-$i;  $LT $C --switchboard-bin $SB --work-dir $W/new-memory-$i --server-arg=--memory > $R/s3-chats-new-memory-$i.txt 2>&1
  stamp embedded-$i;    $LT $C --switchboard-bin $SB --work-dir $W/embedded-$i > $R/s3-chats-embedded-$i.txt 2>&1
done
redis-server --port 16392 --dir $W/redis --appendonly yes --appendfsync always --save '' --daemonize yes --logfile $W/redis/redis.log
sleep 1
stamp old-redis;  $LT $C --switchboard-bin $OLD --work-dir $W/old-redis --server-arg=--redis-url=redis://127.0.0.1:16392/0 > $R/s3-chats-old-redis.txt 2>&1
stamp new-redis;  $LT $C --switchboard-bin $SB --work-dir $W/new-redis --server-arg=--redis-url=redis://127.0.0.1:16392/1 > $R/s3-chats-new-redis.txt 2>&1
redis-cli -p 16392 shutdown nosave > /dev/null 2>&1
stamp disk
$LT directory --agents 2000 --groups 20 --out $W/d2k.toml > /dev/null 2>&1
$SB serve --listen 127.0.0.1:18623 --directory $W/d2k.toml --api-key loadtest-api-key-0001 \
  --data-dir $W/disk --login-attempts-per-ip=0 --login-attempts-per-user=0 > $W/disk-server.log 2>&1 &
SP=$!; sleep 2
( for i in $(seq 0 22); do echo "$(date -u +%T) $(du -sb $W/disk | cut -f1)"; ls -l $W/disk | awk 'NR>1{printf "  %s %s\n", $9, $5}'; sleep 15; done ) > $R/s3-disk-over-time.txt &
DP=$!
$LT chats --server http://127.0.0.1:18623 --directory $W/d2k.toml --api-key loadtest-api-key-0001 \
  --agents 2000 --rate 500 --ramp 5s --duration 300s > $R/s3-disk-chats.txt 2>&1
wait $DP
kill $SP; wait $SP 2>/dev/null
python3 - "$W/disk/switchboard.db" > $R/s3-disk-contents.txt <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n, total = db.execute("select count(*), coalesce(sum(length(entry)), 0) from log").fetchone()
lo, hi = db.execute("select min(id), max(id) from log").fetchone()
snap = db.execute("select length(value) from meta where key = 'snapshot'").fetchone()
audit = db.execute("select count(*) from audit").fetchone()[0]
pages = db.execute("pragma page_count").fetchone()[0] * db.execute("pragma page_size").fetchone()[0]
print(f"log rows kept: {n} (ids {lo}..{hi}), {total} bytes of entries, {total / max(n, 1):.0f} bytes per entry")
print(f"entries appended in all: {hi}")
print(f"snapshot: {snap[0] if snap else 0} bytes; audit rows: {audit}; database pages: {pages} bytes")
PY
stamp done
