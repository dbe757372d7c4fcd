#!/bin/bash
# Round 4 (2026-11-24): the final build, every scenario, one after the other on a quiet box.
R=/work/main/loadtest/results/2026-11-24
SB=/tmp/bench/sb-r4; LT=/tmp/bench/lt-r4b
cd /tmp/bench
stamp() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >> $R/round4.log; }
stamp start
stamp routing; /tmp/bench/routing-r4 --bench --warm-up-time 1 --measurement-time 3 > $R/routing.txt 2>&1
stamp idle; $LT compare --switchboard-bin $SB --scenario idle --agents 10000 --groups 100 --ramp 20s --duration 20s > $R/idle-1.txt 2>&1
for i in 1 2 3 4; do
  stamp chats-$i; $LT compare --switchboard-bin $SB --scenario chats --agents 10000 --groups 100 --rate 500 --ramp 20s --duration 30s > $R/chats-$i.txt 2>&1
  if [ $i -le 3 ]; then
    stamp presence-$i; $LT compare --switchboard-bin $SB --scenario presence --agents 1000 --supervisors 100 --groups 100 --rate 100 --ramp 10s --duration 30s > $R/presence-$i.txt 2>&1
  fi
done
stamp takes
$SB serve --listen 127.0.0.1:18611 --directory /tmp/bench/d1k.toml --api-key loadtest-api-key-0001 --login-attempts-per-ip=0 --login-attempts-per-user=0 > /tmp/bench/r4-takes-server.log 2>&1 &
TP=$!; sleep 1
$LT takes --server http://127.0.0.1:18611 --directory /tmp/bench/d1k.toml --agents 20 --takers 20 --rate 20 --ticket-share 1 --ramp 2s --duration 20s --server-pid $TP > $R/takes-1.txt 2>&1
kill $TP; wait $TP 2>/dev/null
stamp cluster-10k
LT=$LT DRAIN=10s bash $R/cluster.sh r4-cl10k 10000 2 1 127.0.0.1 500 20s 30s $SB > /dev/null 2>&1
stamp cluster-50k-a
LT=$LT DRAIN=30s bash $R/cluster.sh r4-cl50k-a 50000 4 3 127.0.0.1,127.0.0.2,127.0.0.3 100 200s 30s $SB > /dev/null 2>&1
stamp cluster-50k-b
LT=$LT DRAIN=30s bash $R/cluster.sh r4-cl50k-b 50000 4 3 127.0.0.4,127.0.0.5,127.0.0.6 100 200s 30s $SB > /dev/null 2>&1
stamp done
