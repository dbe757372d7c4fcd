#!/bin/sh
# The replica wait's cost (BENCHMARKS.md §11), as run on 2026-12-01 21:32-21:37 UTC.
# sb, lt: release `switchboard` and `switchboard-loadtest` of commit ece71df, copied here first.
redis-server --port 16411 --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --dir p &
redis-server --port 16412 --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --dir r \
  --replicaof 127.0.0.1 16411 &
sleep 8   # the replica's first sync: master_link_status:up
for run in nowait-1 wait-1 nowait-2 wait-2; do
  redis-cli -p 16411 flushall; sleep 1
  extra=""; [ "${run%-*}" = wait ] && extra="--server-arg=--redis-min-replicas=1"
  uptime > $run.txt
  ./lt compare --switchboard-bin ./sb --scenario chats --agents 2000 --rate 200 --ramp 10s \
    --duration 20s --server-arg=--redis-url=redis://127.0.0.1:16411/ $extra >> $run.txt 2>&1
done
