#!/usr/bin/env bash
# Interop checks, on the upstream stack (serde + bincode 1.3.3 + quinn 0.9 +
# rustls 0.20) built offline from Debian's packaged crates:
#
#   1. the development broker binary against an independent Rust client
#      (interop/rust-client) written from docs/protocol.md alone;
#   2. the runtime, through interop/upstreamcheck, against a server that
#      behaves like upstream RustMQ's broker (interop/upstream-server).
#
#   bash interop/run.sh        (or: make interop)
#
# Steps: install the Debian crate packages when missing, build the Rust
# programs, the broker and the checker, check the golden vectors with the
# client's bincode, then per scenario start a server on a loopback UDP port,
# run the client or the checker, stop the server with SIGTERM and require exit
# status 0. Every step is bounded with timeout(1). Exit status is non-zero on
# any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_DIR=$ROOT/interop
# The codec's golden vectors (Rust serde + bincode 1.3.3 output).
GOLDEN=${WIRE_GOLDEN:-$ROOT/transport/wire/testdata/wire-golden.txt}
GO=${GO:-go}
DEB_PACKAGES=(librust-quinn-dev librust-rustls-dev librust-rustls-pemfile-dev
	librust-bincode-dev librust-serde-dev librust-serde-derive-dev librust-tokio-dev
	librust-tokio-macros-dev librust-ring-dev librust-base64-dev)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rustmq-interop.XXXXXX")
BROKER_PID=
UP_PID=
cleanup() {
	for pid in "$BROKER_PID" "$UP_PID"; do
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "interop: PASS $*"; }
fail() { failed=$((failed + 1)); echo "interop: FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "interop: SKIP $*"; }
die() { echo "interop: $*" >&2; exit 2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- toolchain -------------------------------------------------------------
t0=$(now)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "interop: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	# A mirror's passing hiccup should not fail the run: try three times.
	ok=
	for attempt in 1 2 3; do
		if timeout 600 $SUDO apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq --no-install-recommends \
				"${missing[@]}" >"$WORK/apt.log" 2>&1; then
			ok=1
			break
		fi
		echo "interop: apt-get attempt $attempt failed; retrying"
		sleep $((attempt * 10))
	done
	[ -n "$ok" ] || { cat "$WORK/apt.log"; die "apt-get install failed"; }
fi
echo "interop: Debian crates ready ($(since "$t0"))"

CARGO=${CARGO:-}
if [ -z "$CARGO" ]; then
	# rustup's cargo (1.78+ reads the v4 Cargo.lock; Debian's own is older).
	# CI may run with a different HOME or PATH, so look in the usual places.
	for c in "${HOME:-/root}/.cargo/bin/cargo" /root/.cargo/bin/cargo /usr/local/cargo/bin/cargo "$(command -v cargo || true)"; do
		[ -n "$c" ] && [ -x "$c" ] && CARGO=$c && break
	done
fi
[ -n "$CARGO" ] || die "no cargo: install rustup's toolchain or Debian's cargo package"
t1=$(now)
(cd "$CARGO_DIR" && timeout 1200 "$CARGO" build --release --offline --locked --quiet) ||
	die "cargo build of the interop programs failed"
CLIENT=$CARGO_DIR/target/release/rustmq-interop-client
UPSTREAM=$CARGO_DIR/target/release/rustmq-upstream-server
echo "interop: client and upstream server built ($(since "$t1"))"

t2=$(now)
BROKER=$WORK/rustmq-broker
CHECK=$WORK/upstreamcheck
(cd "$ROOT" && timeout 600 "$GO" build -o "$BROKER" ./cmd/rustmq-broker) || die "go build of the broker failed"
(cd "$ROOT" && timeout 600 "$GO" build -o "$CHECK" ./interop/upstreamcheck) || die "go build of upstreamcheck failed"
echo "interop: broker and checker built ($(since "$t2"))"

# --- golden vectors ----------------------------------------------------------
if [ -f "$GOLDEN" ]; then
	if timeout 30 "$CLIENT" --golden "$GOLDEN" >"$WORK/golden.out" 2>&1; then
		pass "golden vectors match Rust serde+bincode 1.3.3 ($GOLDEN)"
	else
		cat "$WORK/golden.out"
		fail "golden vectors ($GOLDEN)"
	fi
else
	fail "golden vectors: $GOLDEN not found"
fi

# --- development broker ----------------------------------------------------------
# start_broker EXTRA_FLAGS...: starts the broker on a kernel-chosen loopback
# port and sets PORT and CA once its banner says it is ready.
start_broker() {
	CA=$WORK/ca-$RANDOM.pem
	LOG=$WORK/broker-$RANDOM.log
	"$BROKER" --listen 127.0.0.1:0 --topic events:2 --write-ca "$CA" --log-level warn "$@" >"$LOG" 2>&1 &
	BROKER_PID=$!
	PORT=
	for _ in $(seq 1 100); do
		if grep -q '^rustmq-broker: connect:' "$LOG"; then
			PORT=$(sed -n 's/^rustmq-broker: .* listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
			break
		fi
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$PORT" ] || [ ! -s "$CA" ]; then
		cat "$LOG"
		return 1
	fi
}

# stop_pid PID: SIGTERM, then the exit status must be 0 within 15 s.
stop_pid() {
	local pid=$1 rc=
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 150); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			rc=$?
			break
		fi
		sleep 0.1
	done
	if [ -z "$rc" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		echo "process $pid ignored SIGTERM for 15 s"
		return 1
	fi
	[ "$rc" -eq 0 ] || { echo "process $pid exited $rc"; cat "$LOG"; return 1; }
}

stop_broker() {
	local rc=0
	stop_pid "$BROKER_PID" || rc=1
	BROKER_PID=
	return $rc
}

# mode NAME CLIENT_ALPN BROKER_FLAGS...: the full scenario in one mode.
mode() {
	local name=$1 alpn=$2
	shift 2
	echo "interop: --- $name: broker $* / client ALPN $alpn"
	if ! start_broker "$@"; then
		fail "$name: broker did not start"
		return
	fi
	local ok=1
	timeout 120 "$CLIENT" --addr "127.0.0.1:$PORT" --ca "$CA" --alpn "$alpn" || ok=0
	[ $ok -eq 1 ] || echo "client failed"
	stop_broker || ok=0
	if [ $ok -eq 1 ]; then pass "$name"; else fail "$name"; fi
}

# refused NAME CLIENT_ALPN BROKER_FLAGS...: the handshake must be refused
# (client exit status 3), not succeed and not time out.
refused() {
	local name=$1 alpn=$2
	shift 2
	echo "interop: --- $name (must be refused): broker $* / client ALPN $alpn"
	if ! start_broker "$@"; then
		fail "$name: broker did not start"
		return
	fi
	local rc=0 ok=1
	timeout 60 "$CLIENT" --addr "127.0.0.1:$PORT" --ca "$CA" --alpn "$alpn" --handshake-only || rc=$?
	[ $rc -eq 3 ] || { echo "client exit status $rc, want 3 (refused)"; ok=0; }
	stop_broker || ok=0
	if [ $ok -eq 1 ]; then pass "$name refused"; else fail "$name"; fi
}

mode "alpn rustmq" rustmq
mode "no alpn" none --no-alpn
refused "client rustmq vs --no-alpn broker" rustmq --no-alpn
refused "client without ALPN vs rustmq broker" none

# --- upstream-faithful server ------------------------------------------------------
# start_upstream EXTRA_FLAGS...: starts interop/upstream-server with topic
# events:4 and sets PORT, CA and DUMP. Upstream's Metadata reports the port
# written in its configuration, so the server gets a concrete port (not :0);
# a port found taken is replaced by another.
start_upstream() {
	CA=$WORK/up-cert-$RANDOM.pem
	DUMP=$WORK/up-dump-$RANDOM.jsonl
	LOG=$WORK/up-$RANDOM.log
	local attempt
	for attempt in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 40000))
		"$UPSTREAM" --listen "127.0.0.1:$PORT" --topic events:4 --write-cert "$CA" --dump "$DUMP" "$@" >"$LOG" 2>&1 &
		UP_PID=$!
		for _ in $(seq 1 100); do
			grep -q '^upstream-server: listening on' "$LOG" && return 0
			kill -0 "$UP_PID" 2>/dev/null || break
			sleep 0.1
		done
		wait "$UP_PID" 2>/dev/null
		UP_PID=
		grep -q 'in use' "$LOG" || break
	done
	cat "$LOG"
	return 1
}

stop_upstream() {
	local rc=0
	[ -n "$UP_PID" ] || return 0
	stop_pid "$UP_PID" || rc=1
	UP_PID=
	return $rc
}

# up_client NAME: the Rust client's upstream scenario, then a client offering
# ALPN "rustmq" must be refused at the handshake.
up_client() {
	echo "interop: --- $1"
	if ! start_upstream; then
		fail "$1: server did not start"
		return
	fi
	local ok=1 rc=0
	timeout 120 "$CLIENT" --addr "127.0.0.1:$PORT" --ca "$CA" --alpn none --expect upstream || ok=0
	timeout 60 "$CLIENT" --addr "127.0.0.1:$PORT" --ca "$CA" --alpn rustmq --handshake-only || rc=$?
	[ $rc -eq 3 ] || { echo "client offering rustmq: exit status $rc, want 3 (refused)"; ok=0; }
	stop_upstream || ok=0
	if [ $ok -eq 1 ]; then pass "$1"; else fail "$1"; fi
}

# up_check NAME SERVER_FLAGS -- CHECK_FLAGS...: upstreamcheck against a
# fresh server. The checker stops the server (which writes its dump); the
# server must then exit with status 0. The server runs with --verbose, so
# that its error answers can be summed up by their text afterwards.
up_check() {
	local name=$1
	shift
	local sflags=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do sflags+=("$1"); shift; done
	shift
	echo "interop: --- $name: upstreamcheck $*"
	if ! start_upstream --verbose "${sflags[@]}"; then
		fail "$name: server did not start"
		return
	fi
	local ok=1
	timeout 240 "$CHECK" -addr "127.0.0.1:$PORT" -ca "$CA" -dump "$DUMP" -server-pid "$UP_PID" "$@" || ok=0
	stop_upstream || ok=0
	server_errors
	if [ $ok -eq 1 ]; then pass "$name"; else fail "$name"; fi
}

# server_errors: how many requests the last server answered with an error
# frame, by text (the numbers in a text blanked, so that alike ones add up).
server_errors() {
	local n
	n=$(grep -c 'Request processing error' "$LOG")
	echo "interop: server answered $n requests with an error frame"
	[ "$n" -gt 0 ] || return 0
	sed -n 's/^upstream-server: Request processing error: //p' "$LOG" | sed 's/[0-9][0-9]*/N/g' |
		sort | uniq -c | sort -rn | head -n 5 | sed 's/^/interop:   /'
}

# up_shaped NAME RATE -- CHECK_FLAGS...: up_check inside a private network
# namespace (unshare -rn) whose loopback is shaped by tc's token bucket to
# RATE, one packet at a time: the packets of a request then arrive spread
# out as behind a link of that rate, and upstream's single read can cut a
# request of several packets. Nothing outside the namespace is touched; it
# ends with its last process. SKIP where namespaces or tbf are unavailable.
up_shaped() {
	local name=$1 rate=$2
	shift 3
	if ! unshare -rn sh -c "ip link set lo up && tc qdisc add dev lo root tbf rate $rate burst 1600 latency 100ms" >/dev/null 2>&1; then
		skip "$name (needs unshare -rn, ip and tc's tbf qdisc)"
		return
	fi
	echo "interop: --- $name: upstreamcheck $* (loopback shaped to $rate)"
	local script=$WORK/shaped-$RANDOM.sh
	declare -f start_upstream stop_pid stop_upstream server_errors >"$script"
	cat >>"$script" <<'EOF_INNER'
ip link set lo up && tc qdisc add dev lo root tbf rate "$RATE" burst 1600 latency 100ms || exit 2
UP_PID=
trap 'if [ -n "$UP_PID" ]; then kill -KILL "$UP_PID" 2>/dev/null; fi' EXIT
trap 'exit 143' INT TERM
start_upstream --verbose || exit 2
rc=0
timeout 240 "$CHECK" -addr "127.0.0.1:$PORT" -ca "$CA" -dump "$DUMP" -server-pid "$UP_PID" "$@" || rc=1
stop_upstream || rc=1
server_errors
exit $rc
EOF_INNER
	local ok=1
	RATE=$rate UPSTREAM=$UPSTREAM CHECK=$CHECK WORK=$WORK timeout 300 unshare -rn bash "$script" "$@" || ok=0
	if [ $ok -eq 1 ]; then pass "$name"; else fail "$name"; fi
}

up_client "upstream server: Rust client, upstream expectations"

# The runtime without its upstream mode, configured by hand for upstream:
# requests kept within one QUIC datagram (BatchBytes 1100) and one batch in
# flight per partition (MaxInFlight is 1 without idempotence).
up_check "upstream server: runtime without upstream mode, one-datagram batches, 3,000 keyed messages" \
	-- -messages 3000 -max-value 200 -max-request-bytes 2200 -batch-bytes 1100 -alpn none

# The runtime's upstream mode (Config.Upstream), with its own defaults for
# the request and batch limits.
up_check "upstream mode: 10,000 keyed messages of 10 B..1 KiB, ALPN none" \
	-- -upstream -messages 10000 -alpn none
up_check "upstream mode: 10,000 keyed messages of 10 B..1 KiB, default ALPN (auto)" \
	-- -upstream -messages 10000 -alpn auto
up_check "upstream mode: 10,000 messages, 5% of values 2-6 KiB (large ones may fail, none stored twice, order kept)" \
	-- -upstream -messages 10000 -large-fraction 0.05 -allow-large-failures -alpn none
up_check "upstream mode: MaxInFlight 5 asked, per-key order kept" \
	-- -upstream -messages 3000 -max-in-flight 5 -alpn none

# The same behind a bottleneck, where loopback's luck runs out: requests of
# one packet must still arrive whole; a large value's request of several
# packets is cut now and then, and its retries must deliver it or fail it
# without storing anything twice or out of order.
up_shaped "upstream mode behind 20 Mbit/s: 10,000 keyed messages of 10 B..1 KiB, no request cut" 20mbit \
	-- -upstream -messages 10000 -alpn none
up_shaped "upstream mode behind 1 Gbit/s: 10,000 messages, 5% of values 2-6 KiB, cut requests retried" 1gbit \
	-- -upstream -messages 10000 -large-fraction 0.05 -allow-large-failures -alpn none
up_shaped "upstream mode behind 100 Mbit/s: 10,000 messages, 5% of values 2-6 KiB, a request cut 3 times given up, the ordinary ones delivered" 100mbit \
	-- -upstream -messages 10000 -large-fraction 0.05 -allow-large-failures -alpn none

# ALPN auto against old quinn (APPLICATION_ERROR 0x0c on the refused ALPN):
# the retry without ALPN needs a server whose accept loop survives the failed
# handshake, which upstream's does not (--keep-accepting is not upstream).
up_check "ALPN auto falls back to none against quinn 0.9 (server --keep-accepting)" \
	--keep-accepting -- -messages 2000 -max-value 200 -max-request-bytes 2200 -batch-bytes 1100 -alpn auto

echo "interop: total $(since "$t0")"
echo "interop: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
