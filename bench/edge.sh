#!/bin/bash
# The edge benchmark of issue 13: the same HTTP-FLV players of one
# synthetic 2 Mbit/s stream on an edge (-w 2, pulling from a local origin)
# and on a standalone streamedge (-w 2), one run each. Prints how many
# players the origin sees (want 1) and the server CPU-seconds per delivered
# Gbit of each, from `streamedge bench play -pid` (the master and its
# workers), and their ratio.
#
#   make bench-edge                 # 2000 players, 30 s each
#   N=500 DUR=20s bench/edge.sh bin/streamedge
set -euo pipefail
BIN=$(realpath "${1:-bin/streamedge}")
N=${N:-2000}
DUR=${DUR:-30s}
dir=$(mktemp -d)
cd "$dir"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
OR=$(port) OA=$(port) ER=$(port) EH=$(port) EA=$(port)
echo "listen: {rtmp: 127.0.0.1:$OR, http: 127.0.0.1:0, api: 127.0.0.1:$OA}" >origin.yaml
echo "listen: {rtmp: 127.0.0.1:$ER, http: 127.0.0.1:$EH, api: 127.0.0.1:$EA}" >alone.yaml
cp alone.yaml edge.yaml
printf 'vhosts:\n  __defaultVhost__:\n    cluster: {mode: remote, origin: [127.0.0.1:%s]}\n' "$OR" >>edge.yaml
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

"$BIN" -c origin.yaml -w 1 2>origin.log & pids+=($!)
wait_port "$OR"
"$BIN" bench publish -url "rtmp://127.0.0.1:$OR/live/b" -synthetic 2M -q >pub.log 2>&1 & pids+=($!)
"$BIN" -c edge.yaml -w 2 2>edge.log & edge=$!; pids+=($edge)
wait_port "$EH"
"$BIN" bench play -url "http://127.0.0.1:$EH/live/b.flv" -clients "$N" -ramp 200/s -duration "$DUR" -pid "$edge" -bitrate 2M -q -json edge.json >edge.txt 2>&1 &
play=$!
sleep 10 # the players are in: ask the origin whom it serves
origin_plays=$(curl -s "http://127.0.0.1:$OA/api/v1/clients" | python3 -c 'import json,sys;print(sum(c["kind"] in ("rtmp_play","flv_play") for c in json.load(sys.stdin)["clients"]))')
wait "$play" || true
kill "$edge"; wait "$edge" 2>/dev/null || true

"$BIN" -c alone.yaml -w 2 2>alone.log & alone=$!; pids+=($alone)
wait_port "$EH"
"$BIN" bench publish -url "rtmp://127.0.0.1:$ER/live/b" -synthetic 2M -q >pub2.log 2>&1 & pids+=($!)
sleep 2
"$BIN" bench play -url "http://127.0.0.1:$EH/live/b.flv" -clients "$N" -ramp 200/s -duration "$DUR" -pid "$alone" -bitrate 2M -q -json alone.json >alone.txt 2>&1 || true

echo "origin play connections while $N players watched the edge: $origin_plays"
grep -h "^result" edge.txt alone.txt | sed '1s/^/edge:       /;2s/^/standalone: /'
python3 - <<'PY'
import json
r = {}
for name in ("edge", "alone"):
    d = json.load(open(name + ".json"))
    tl = d["timeline"]
    cpu = tl[-1]["probes"]["server_cpu_s"] - tl[0]["probes"]["server_cpu_s"]
    gbit = d["summary"]["wire_bytes"] * 8 / 1e9
    r[name] = cpu / gbit
    print(f"{name:10s} server CPU {cpu:.2f} s, delivered {gbit:.1f} Gbit: {r[name]:.3f} CPU-s per Gbit")
print(f"edge / standalone: {r['edge'] / r['alone']:.2f}x")
PY
