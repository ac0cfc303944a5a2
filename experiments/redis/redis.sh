#!/bin/sh
# A real server whose dataset is larger than the guest's RAM (experiments/redis/redis.yaml).
# redis-server keeps every value in memory, so the kernel swaps the server's own heap; the
# benchmark's random GETs fault it back in. Every value is a pure function of its key,
# written and checked by Lua inside the server, so a page that came back wrong is a key
# whose value differs: the script exits 3 and the run fails.
#   KEYS       keys in the dataset (0 .. KEYS-1; redis-benchmark's __rand_int__ range)
#   REQUESTS   GETs the benchmark sends, CLIENTS at once
# Prints load_s, redis-benchmark's CSV line (ops/s, latency avg/min/p50/p95/p99/max in
# ms), verify_s, and "verified N keys, B bad".
set -eu
KEYS=${KEYS:-65536}
REQUESTS=${REQUESTS:-10000}
CLIENTS=${CLIENTS:-4}
BATCH=4096
# 314 x 13 = 4082 bytes: with redis's string header, one 4 KiB jemalloc block per value
VALUE="string.rep(string.format('%012d|', i), 314)"

now() { cut -d' ' -f1 /proc/uptime; }

redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir /root \
    --daemonize yes --logfile /root/redis-server.log
tries=0
until redis-cli ping >/dev/null 2>&1; do
    tries=$((tries + 1)); [ "$tries" -le 300 ] || { echo "redis-server did not start"; exit 1; }
    sleep 0.2
done
trap 'redis-cli shutdown nosave >/dev/null 2>&1 || true' EXIT

# Load in batches: one EVAL per BATCH keys keeps the server answering between them.
t0=$(now)
i=0
while [ "$i" -lt "$KEYS" ]; do
    redis-cli EVAL "for i=tonumber(ARGV[1]),tonumber(ARGV[2]) do
        redis.call('SET', string.format('key:%012d', i), $VALUE) end return 0" \
        0 "$i" "$(( i + BATCH < KEYS ? i + BATCH - 1 : KEYS - 1 ))" >/dev/null
    i=$((i + BATCH))
done
t1=$(now)
echo "load_s: $(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}')"
echo "dataset: $(redis-cli --raw DBSIZE) keys, used_memory $(redis-cli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p' | tr -d '\r') bytes"

redis-benchmark -q --csv -c "$CLIENTS" -n "$REQUESTS" -r "$KEYS" GET 'key:__rand_int__' |
    sed -n 's/^"GET key:__rand_int__",/"GET",/p'

t2=$(now)
bad=0
i=0
while [ "$i" -lt "$KEYS" ]; do
    n=$(redis-cli --raw EVAL "local bad = 0
        for i=tonumber(ARGV[1]),tonumber(ARGV[2]) do
            if redis.call('GET', string.format('key:%012d', i)) ~= $VALUE then
                bad = bad + 1 end end return bad" \
        0 "$i" "$(( i + BATCH < KEYS ? i + BATCH - 1 : KEYS - 1 ))")
    bad=$((bad + n))
    i=$((i + BATCH))
done
t3=$(now)
echo "verify_s: $(echo "$t3 $t2" | awk '{printf "%.2f", $1 - $2}')"
keys=$(redis-cli --raw DBSIZE)
echo "verified $keys keys, $bad bad"
[ "$bad" -eq 0 ] && [ "$keys" -eq "$KEYS" ] || exit 3
