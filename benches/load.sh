#!/usr/bin/env bash
# The load benchmark of m2mspec: runs the target load scenarios of `m2mspec load` on this
# machine, starting and stopping (by PID) what each needs — mosquitto, tsung, the ACME CSE —,
# writes each report under reports/out/load-<scenario>/ and prints its figures, together with
# the CPU seconds of every process involved (which one is the bottleneck).
#
#   bash benches/load.sh                 # every scenario (~5 minutes)
#   bash benches/load.sh mosq-1k tsung   # some of them
#
# Scenarios: mosq-10k mosq-1k mosq-1k-r2 embedded-1k embedded-sat tsung acme shards
# Needs: mosquitto (Debian), tsung (Debian, for `tsung`), the ACME venv (`acme`:
# bash fixtures/sut/acme/install.sh). Everything talks to 127.0.0.1 only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/m2mspec
OUT=reports/out
PORT_A=21891
PORT_B=21892
cargo build --release -p m2mspec --quiet

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '\n=== %s\n' "$*"; }

# start_mosquitto PORT: a single-threaded mosquitto 2.0 with TCP_NODELAY, no persistence, no
# connection limit, a wide in-flight window; its PID in $MOSQ_PID (and in pids, for the trap).
start_mosquitto() {
  local port=$1 conf="$work/mosquitto-$1.conf"
  cat > "$conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_connections -1
max_inflight_messages 1000
max_queued_messages 100000
sys_interval 1
CONF
  mosquitto -c "$conf" > "$work/mosquitto-$port.log" 2>&1 &
  MOSQ_PID=$!
  pids+=("$MOSQ_PID")
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# The mosquitto $SYS counter of PUBLISH packets received (retained, refreshed every second).
sys_received() {
  python3 - "$1" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
cid = b"m2mspec-sys"
vh = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(cid)) + cid
s.sendall(bytes([0x10, len(vh)]) + vh)
s.recv(4)
t = b"$SYS/broker/publish/messages/received"
p = struct.pack(">H", 1) + struct.pack(">H", len(t)) + t + b"\x00"
s.sendall(bytes([0x82, len(p)]) + p)
buf = b""
while True:
    buf += s.recv(4096)
    while len(buf) >= 2:
        n, mul, i = 0, 1, 1
        while True:
            b = buf[i]; n += (b & 127) * mul; mul *= 128; i += 1
            if b < 128: break
        if len(buf) < i + n: break
        pkt, buf = buf[:i + n], buf[i + n:]
        if pkt[0] >> 4 == 3:
            tl = struct.unpack(">H", pkt[i:i + 2])[0]
            print(pkt[i + 2 + tl:].decode()); sys.exit(0)
PY
}

# figures DIR: the headline figures of a report.
figures() {
  python3 - "$1/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); c = r["counts"]; h = r["histograms"]; res = r["resources"]
ms = lambda us: f"{us/1000:.2f}ms"
print(f"  report: {sys.argv[1]}")
print(f"  clients {r['aes']} connected {r['connected']} registered {r['registered']}; phases {r['phases']}")
print(f"  connect ramp: {r['aes']/max(r['phases']['connect_s'],1e-9):.0f} clients/s; connect p50 {ms(h['connect']['p50_us'])} p99 {ms(h['connect']['p99_us'])}")
if r["mode"] == "onem2m":
    print(f"  registration p50 {ms(h['registration']['p50_us'])} p99 {ms(h['registration']['p99_us'])}")
    a = h["all"]
    print(f"  round trip: n={a['count']} p50 {ms(a['p50_us'])} p99 {ms(a['p99_us'])} max {ms(a['max_us'])}")
print(f"  offered {r['offered_rate']:.0f}/s achieved {r['achieved_rate']:.0f}/s; sent {c['sent']} matched {c['matched']} received {c['received']}")
print(f"  lost {c['lost']} late {c['late']} duplicate {c['duplicates']} mismatched {c['mismatched']} backlog {c['backlog']} non-2xxx {c['non_2xxx']} violations {c['violations']} connect failed {c['connect_failed']} refused {c['connect_refused']}")
for s in r["steps"]:
    if len(r["steps"]) > 1:
        print(f"  step {s['step']+1}: offered {s['offered_rate']:.0f}/s achieved {s['achieved_rate']:.0f}/s p50 {ms(s['round_trip']['p50_us'])} p99 {ms(s['round_trip']['p99_us'])} errors {s['errors']} {'met' if s['met'] else 'BROKEN'}")
if r.get("knee"): print(f"  knee: {r['knee']}")
print(f"  simulator: peak RSS {res['rss_peak_bytes']/2**20:.1f} MiB, {res['rss_per_client_bytes']/1024:.1f} KiB per client, CPU {res['cpu_seconds']:.1f}s = {res['cpu_per_wall_second']:.2f} cores (target in process: {res['target_in_process']})")
PY
}

# Busy CPU seconds of the whole machine so far (all processes, /proc/stat).
machine_busy_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu /{ printf "%.2f", ($2+$3+$4+$7+$8) / hz }' /proc/stat; }

# run NAME ARGS...: one m2mspec load run into reports/out/load-NAME, with the CPU of the
# processes in $watch (name=pid pairs) measured around it.
watch=()
run() {
  local name=$1; shift
  local before=() t0
  for w in "${watch[@]}"; do before+=("$(cpu_s "${w#*=}")"); done
  t0=$(date +%s.%N)
  local busy0; busy0=$(machine_busy_s)
  echo "\$ $BIN load $* --out $OUT/load-$name"
  local rc=0
  "$BIN" load --no-progress "$@" --out "$OUT/load-$name" > "$work/$name.txt" 2>&1 || rc=$?
  local wall; wall=$(echo "$(date +%s.%N) - $t0" | bc)
  figures "$OUT/load-$name"
  local i=0
  for w in "${watch[@]}"; do
    local used; used=$(echo "$(cpu_s "${w#*=}") - ${before[$i]}" | bc)
    printf '  %s CPU %.1fs over %.1fs wall = %.2f cores\n' "${w%%=*}" "$used" "$wall" "$(echo "$used / $wall" | bc -l)"
    i=$((i + 1))
  done
  # What else ran meanwhile (other users of the 2 cores skew every figure above).
  printf '  whole machine busy %.2f cores (%s)\n' "$(echo "($(machine_busy_s) - $busy0) / $wall" | bc -l)" "$(nproc) cores"
  echo "  exit code $rc"
}

scenario_mosq_10k() {
  log "10,000 AEs through mosquitto with the fast responder (connect ramp 2,000/s, 5,000 requests/s for 10 s)"
  local m; start_mosquitto $PORT_A; m=$MOSQ_PID
  watch=("mosquitto=$m")
  run mosq-10k --broker 127.0.0.1:$PORT_A --responder --aes 10000 --ramp-rate 2000 --rate 5000 --duration 10
  watch=(); stop_pid "$m"
}

scenario_mosq_1k() {
  log "1,000 AEs through mosquitto with the fast responder: saturation (knee search 12k..26k/s)"
  local m; start_mosquitto $PORT_A; m=$MOSQ_PID
  watch=("mosquitto=$m")
  run mosq-1k --broker 127.0.0.1:$PORT_A --responder --aes 1000 --step 12000:2000:26000 --step-duration 5 --slo p99=50ms,errors=0.1%
  watch=(); stop_pid "$m"
}

scenario_mosq_1k_r2() {
  log "1,000 AEs through mosquitto, the fast responder over 2 connections (the AEs split between them): saturation"
  local m; start_mosquitto $PORT_A; m=$MOSQ_PID
  watch=("mosquitto=$m")
  run mosq-1k-r2 --broker 127.0.0.1:$PORT_A --responder --responders 2 --aes 1000 --step 12000:2000:26000 --step-duration 5 --slo p99=50ms,errors=0.1%
  watch=(); stop_pid "$m"
}

scenario_embedded_1k() {
  log "embedded default (rumqttd + reference CSE), 1,000 AEs at 1 request/s each for 20 s"
  run embedded-1k --aes 1000 --rate 1000 --duration 20
}

scenario_embedded_sat() {
  log "embedded default, 1,000 AEs: saturation (knee search 4k..14k/s)"
  run embedded-sat --aes 1000 --step 4000:2000:14000 --step-duration 5 --slo p99=50ms,errors=0.1%
}

scenario_tsung() {
  log "plain publish against mosquitto, m2mspec and tsung side by side (100 clients, QoS 1, 64-byte payload, 20 s each)"
  command -v tsung >/dev/null || { echo "tsung is not installed (apt-get install tsung)"; return 0; }
  local m; start_mosquitto $PORT_A; m=$MOSQ_PID
  sleep 1.5
  local r0; r0=$(sys_received $PORT_A)
  watch=("mosquitto=$m")
  run plain-pub --broker 127.0.0.1:$PORT_A --plain pub --aes 100 --rate 400000 --duration 20 --payload-bytes 64 --qos 1 --topic bench/m2mspec
  watch=()
  sleep 1.5
  local r1; r1=$(sys_received $PORT_A)
  local m2m_rate; m2m_rate=$(echo "($r1 - $r0) / 20" | bc -l)
  printf '  mosquitto counted %d PUBLISH packets from m2mspec: %.0f msg/s\n' "$((r1 - r0))" "$m2m_rate"
  # tsung: 100 users arriving within 1 s, each publishing QoS 1 in a loop for 20 s.
  local payload; payload=$(head -c 64 /dev/zero | tr '\0' 'x')
  mkdir -p "$OUT/load-tsung"
  cat > "$OUT/load-tsung/tsung.xml" <<XML
<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="error" dumptraffic="false">
  <clients><client host="localhost" use_controller_vm="true" maxusers="1000"/></clients>
  <servers><server host="127.0.0.1" port="$PORT_A" type="tcp"/></servers>
  <load duration="22" unit="second">
    <arrivalphase phase="1" duration="1" unit="second"><users maxnumber="100" arrivalrate="100" unit="second"/></arrivalphase>
  </load>
  <sessions>
    <session name="pub" probability="100" type="ts_mqtt">
      <request><mqtt type="connect" clean_start="true" keepalive="60" will_topic="" will_qos="0" will_msg="" will_retain="false"></mqtt></request>
      <for from="1" to="100000000" incr="1" var="i">
        <request><mqtt type="publish" topic="bench/tsung" qos="1" retained="false">$payload</mqtt></request>
      </for>
    </session>
  </sessions>
</tsung>
XML
  local tpid epmd_before; epmd_before=$(pgrep -x epmd || true)
  echo "\$ tsung -f $OUT/load-tsung/tsung.xml -l $OUT/load-tsung start   (mosquitto at 127.0.0.1:$PORT_A)"
  tsung -f "$OUT/load-tsung/tsung.xml" -l "$OUT/load-tsung" start > "$work/tsung.out" 2>&1 &
  tpid=$!; pids+=("$tpid")
  sleep 2
  local c0 tsb; c0=$(cpu_s "$m"); tsb=$(pgrep -f 'beam.*tsung_controller' | head -n1 || true)
  local tc0=0; [ -n "$tsb" ] && tc0=$(cpu_s "$tsb")
  local s0; s0=$(sys_received $PORT_A)
  sleep 20
  local s1; s1=$(sys_received $PORT_A)
  local c1; c1=$(cpu_s "$m"); local tc1=0; [ -n "$tsb" ] && tc1=$(cpu_s "$tsb")
  # Bounded: tsung's load phase ends by itself at 22 s; stop it if it lingers.
  for _ in $(seq 1 30); do kill -0 "$tpid" 2>/dev/null || break; sleep 1; done
  kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true
  [ -n "$tsb" ] && kill "$tsb" 2>/dev/null || true
  # Erlang starts an epmd daemon for tsung: stop it when this run started it.
  local epmd_now; epmd_now=$(pgrep -x epmd || true)
  [ -z "$epmd_before" ] && [ -n "$epmd_now" ] && kill "$epmd_now" 2>/dev/null || true
  local ts_rate; ts_rate=$(echo "($s1 - $s0) / 20" | bc -l)
  printf '  mosquitto counted %d PUBLISH packets from tsung in 20 s: %.0f msg/s (tsung CPU %.2f cores, mosquitto %.2f cores)\n' \
    "$((s1 - s0))" "$ts_rate" "$(echo "($tc1 - $tc0) / 20" | bc -l)" "$(echo "($c1 - $c0) / 20" | bc -l)"
  printf '  ratio m2mspec / tsung: %.2f\n' "$(echo "$m2m_rate / $ts_rate" | bc -l)"
  stop_pid "$m"
}

scenario_acme() {
  log "ACME CSE through its SUT profile over mosquitto: the knee (100 AEs, 25..400 requests/s)"
  [ -x "$HOME/.cache/m2mspec/acme-venv/bin/python" ] || { echo "ACME is not installed (bash fixtures/sut/acme/install.sh)"; return 0; }
  local m; start_mosquitto $PORT_A; m=$MOSQ_PID
  watch=("mosquitto=$m")
  run acme --broker 127.0.0.1:$PORT_A --sut fixtures/sut/acme.toml --aes 100 --ramp-rate 200 --timeout-ms 3000 \
    --step 25:25:400 --step-duration 5 --slo p99=500ms,errors=1% || true
  watch=(); stop_pid "$m"
}

scenario_shards() {
  log "2 shards x 10,000 AEs (two processes; one mosquitto each: 20,000 connections exceed one process's open-file limit), merged"
  local a b; start_mosquitto $PORT_A; a=$MOSQ_PID; start_mosquitto $PORT_B; b=$MOSQ_PID
  echo "\$ $BIN load --broker 127.0.0.1:$PORT_A --responder --aes 20000 --shard 0/2 --ramp-rate 2000 --rate 6000 --duration 10 --out $OUT/load-shard0 &"
  echo "\$ $BIN load --broker 127.0.0.1:$PORT_B --responder --aes 20000 --shard 1/2 --ramp-rate 2000 --rate 6000 --duration 10 --out $OUT/load-shard1"
  "$BIN" load --no-progress --broker 127.0.0.1:$PORT_A --responder --aes 20000 --shard 0/2 --ramp-rate 2000 --rate 6000 --duration 10 --out "$OUT/load-shard0" > "$work/s0.txt" 2>&1 &
  local p0=$!; pids+=("$p0")
  "$BIN" load --no-progress --broker 127.0.0.1:$PORT_B --responder --aes 20000 --shard 1/2 --ramp-rate 2000 --rate 6000 --duration 10 --out "$OUT/load-shard1" > "$work/s1.txt" 2>&1 || true
  wait "$p0" || true
  echo "\$ $BIN load merge $OUT/load-shard0 $OUT/load-shard1 --out $OUT/load-merged"
  "$BIN" load merge "$OUT/load-shard0" "$OUT/load-shard1" --out "$OUT/load-merged" > "$work/merge.txt"
  figures "$OUT/load-shard0"; figures "$OUT/load-shard1"; echo "  merged:"; figures "$OUT/load-merged"
  stop_pid "$a"; stop_pid "$b"
}

all=(mosq-10k mosq-1k mosq-1k-r2 embedded-1k embedded-sat tsung acme shards)
for s in "${@:-${all[@]}}"; do
  case $s in
    mosq-10k) scenario_mosq_10k ;;
    mosq-1k) scenario_mosq_1k ;;
    mosq-1k-r2) scenario_mosq_1k_r2 ;;
    embedded-1k) scenario_embedded_1k ;;
    embedded-sat) scenario_embedded_sat ;;
    tsung) scenario_tsung ;;
    acme) scenario_acme ;;
    shards) scenario_shards ;;
    *) echo "unknown scenario $s; known: ${all[*]}" >&2; exit 2 ;;
  esac
done
