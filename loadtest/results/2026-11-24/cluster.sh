#!/bin/bash
# Several Switchboard nodes sharing one redis-server, and the `cluster` scenario over them
# (BENCHMARKS.md). Results go to /tmp/bench/TAG/ (report.txt, rss.txt, samples.txt, latency.txt, items.csv, vmstat.txt).
# Every 5 s samples.txt gets each node's RSS, sessions and CPU seconds so far, and Redis's;
# latency.txt gets Redis's own latency monitor (events over 5 ms), its slow log and each
# node's slow engine requests (over 20 ms) with their kind.
# usage: cluster.sh TAG AGENTS NODES PROCS ADDRS RATE RAMP DURATION [SWITCHBOARD_BIN]
# env: LT (the load tester, default /tmp/bench/lt), FSYNC (Redis appendfsync, default always),
#      DRAIN (wait for late pushes after the run, default 3s), SNAP (--snapshot-interval, default 60s)
# e.g. cluster.sh cl50k-3 50000 4 3 127.0.0.1,127.0.0.2,127.0.0.3 100 200s 30s /tmp/bench/sb-after1
TAG=$1; AGENTS=$2; NODES=$3; PROCS=$4; ADDRS=$5; RATE=$6; RAMP=$7; DUR=$8; BIN=${9:-/tmp/bench/sb-after1}
LT=${LT:-/tmp/bench/lt}
OUT=/tmp/bench/$TAG; mkdir -p $OUT; rm -rf $OUT/redis; mkdir -p $OUT/redis
ulimit -n 20000
RPORT=16401
redis-server --port $RPORT --bind 127.0.0.1 --dir $OUT/redis --save "" --appendonly yes --appendfsync ${FSYNC:-always} > $OUT/redis.log 2>&1 &
RPID=$!
sleep 1
redis-cli -p $RPORT config set latency-monitor-threshold 5 > /dev/null
redis-cli -p $RPORT config set slowlog-log-slower-than 5000 > /dev/null
cpu() { awk '{printf "%.1f", ($14+$15)/100}' /proc/$1/stat; }
DIR=/tmp/bench/d${AGENTS}.toml
[ -f $DIR ] || $LT directory --agents $AGENTS --groups 100 --out $DIR > /dev/null
SERVERS=""; PIDS=""
for i in $(seq 1 $NODES); do
  port=$((18300+i))
  $BIN serve --listen 127.0.0.1:$port --directory $DIR --api-key loadtest-api-key-0001 \
    --login-attempts-per-ip=0 --login-attempts-per-user=0 --redis-url redis://127.0.0.1:$RPORT/0 --snapshot-interval ${SNAP:-60s} > $OUT/node$i.log 2>&1 &
  PIDS="$PIDS $!"; SERVERS="$SERVERS --server http://127.0.0.1:$port"
done
for i in $(seq 1 $NODES); do
  for t in $(seq 1 60); do curl -sf http://127.0.0.1:$((18300+i))/readyz >/dev/null && break; sleep 0.5; done
done
echo "date $(date -u +%FT%TZ) nodes pids:$PIDS redis $RPID" > $OUT/rss.txt
for p in $PIDS; do echo "before pid $p $(grep VmRSS /proc/$p/status)" >> $OUT/rss.txt; done
( while true; do
    line="$(date -u +%T)"
    for i in $(seq 1 $NODES); do p=$(echo $PIDS | cut -d' ' -f$i)
      s=$(curl -s http://127.0.0.1:$((18300+i))/metrics | grep '^switchboard_sessions_open ' | awk '{print $2}')
      line="$line | n$i rss $(awk '/VmRSS/{print $2}' /proc/$p/status) KiB sess $s cpu $(cpu $p)s"; done
    echo "$line | redis cpu $(cpu $RPID)s $(redis-cli -p $RPORT info memory | grep '^used_memory:' | tr -d '\r')" >> $OUT/samples.txt
    sleep 5; done ) &
SPID=$!
# CPU steal (st) and I/O wait (wa) from outside these processes show up here
vmstat -t 5 > $OUT/vmstat.txt 2>&1 &
VPID=$!
echo "cmd: $LT cluster $SERVERS --directory $DIR --agents $AGENTS --processes $PROCS --source-addrs $ADDRS --rate $RATE --ramp $RAMP --duration $DUR --drain ${DRAIN:-3s} --samples $OUT/items.csv" > $OUT/report.txt
$LT cluster $SERVERS --directory $DIR --agents $AGENTS --processes $PROCS --source-addrs $ADDRS --rate $RATE --ramp $RAMP --duration $DUR --drain ${DRAIN:-3s} --samples $OUT/items.csv >> $OUT/report.txt 2>&1
echo "exit $?" >> $OUT/report.txt
kill $SPID $VPID
for p in $PIDS; do echo "end pid $p $(grep -E 'VmRSS|VmHWM' /proc/$p/status | tr '\n' ' ')" >> $OUT/rss.txt; done
redis-cli -p $RPORT info memory | grep -E '^(used_memory|used_memory_rss|used_memory_peak):' >> $OUT/rss.txt
redis-cli -p $RPORT dbsize >> $OUT/rss.txt
{ echo "== redis latency latest (event, time, latest ms, max ms)"; redis-cli -p $RPORT latency latest
  for ev in aof-fsync-always aof-write command fast-command; do
    echo "== redis latency history $ev (time, ms)"; redis-cli -p $RPORT latency history $ev; done
  echo "== redis slowlog (id, time, us, command)"; redis-cli -p $RPORT slowlog get 20 | grep -v '^127.0.0.1' | cut -c1-80
  for i in $(seq 1 $NODES); do echo "== node$i slow engine requests"; grep -a 'busy with one request' $OUT/node$i.log | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200
    echo "== node$i engine busy histogram"; curl -s http://127.0.0.1:$((18300+i))/metrics | grep '^switchboard_engine_busy_seconds'
    echo "== node$i snapshots"; grep -a 'stored a snapshot' $OUT/node$i.log | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200; done
} > $OUT/latency.txt 2>&1
ls -la $OUT/redis/appendonlydir >> $OUT/rss.txt 2>&1
for p in $PIDS; do kill $p; done
sleep 2
kill $RPID
wait
echo DONE >> $OUT/report.txt
