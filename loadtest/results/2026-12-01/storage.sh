#!/bin/bash
# 2026-12-01: new chat -> the assignee's console at 10,000 agents and 500 chats/s
# in the three storage modes (memory, embedded SQLite with fsync, Redis with
# appendfsync always), each beside the bare baseline measured in the same run;
# then the embedded mode's disk use over 5 minutes at 500 chats/s.
# Binaries are copies of one release build (sb-s1, lt-s1), so no rebuild can swap them.
R=$(cd "$(dirname "$0")" && pwd)
SB=/tmp/bench/sb-s1; LT=/tmp/bench/lt-s1
W=/tmp/bench/s1; rm -rf $W; mkdir -p $W
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/storage-steps.txt; }
C="compare --switchboard-bin $SB --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s"
stamp start
stamp memory;   $LT $C --work-dir $W/memory --server-arg=--memory > $R/chats-memory.txt 2>&1
stamp embedded; $LT $C --work-dir $W/embedded > $R/chats-embedded.txt 2>&1
du -sb $W/embedded/data-* > $R/embedded-datadir-after-compare.txt 2>&1
mkdir -p $W/redis
redis-server --port 16390 --dir $W/redis --appendonly yes --appendfsync always --save '' --daemonize yes --logfile $W/redis/redis.log
sleep 1
stamp redis;    $LT $C --work-dir $W/redis-run --server-arg=--redis-url=redis://127.0.0.1:16390/ > $R/chats-redis.txt 2>&1
redis-cli -p 16390 shutdown nosave > /dev/null 2>&1
# Disk use of the embedded mode over 5 minutes at 500 chats/s (snapshot and trim every 60 s).
stamp disk
$LT directory --agents 2000 --groups 20 --out $W/d2k.toml > /dev/null 2>&1
$SB serve --listen 127.0.0.1:18621 --directory $W/d2k.toml --api-key loadtest-api-key-0001 \
  --data-dir $W/disk --login-attempts-per-ip=0 --login-attempts-per-user=0 > $W/disk-server.log 2>&1 &
SP=$!; sleep 2
( for i in $(seq 0 22); do echo "$(date -u +%T) $(du -sb $W/disk | cut -f1)"; ls -l $W/disk | awk 'NR>1{printf "  %s %s\n", $9, $5}'; sleep 15; done ) > $R/disk-over-time.txt &
DP=$!
$LT chats --server http://127.0.0.1:18621 --directory $W/d2k.toml --api-key loadtest-api-key-0001 \
  --agents 2000 --rate 500 --ramp 5s --duration 300s > $R/disk-chats.txt 2>&1
wait $DP
kill $SP; wait $SP 2>/dev/null
python3 - "$W/disk/switchboard.db" > $R/disk-contents.txt <<'PY'
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
