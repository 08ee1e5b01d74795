#!/usr/bin/env bash
# Interop check: the development broker binary against an independent Rust
# client (interop/rust-client) written from WIRE.md alone on the upstream
# stack (serde + bincode 1.3.3 + quinn 0.9 + rustls 0.20), built offline from
# Debian's packaged crates.
#
#   bash interop/run.sh        (or: make interop)
#
# Steps: install the Debian crate packages when missing, build the client and
# the broker, check the golden vectors beside WIRE.md with the client's
# bincode, then per mode start the broker on a free loopback UDP port, run the
# client's scenario, stop the broker with SIGTERM and require exit status 0.
# Negative checks: ALPN mismatches must be refused at the handshake.
# Every step is bounded with timeout(1). Exit status is non-zero on any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENT_DIR=$ROOT/interop/rust-client
GOLDEN=${WIRE_GOLDEN:-}
if [ -z "$GOLDEN" ]; then
	for f in "$ROOT/shared/wire-golden.txt" "$ROOT/../shared/wire-golden.txt" "$ROOT/transport/wire/testdata/wire-golden.txt"; do
		[ -f "$f" ] && GOLDEN=$f && break
	done
fi
GO=${GO:-go}
DEB_PACKAGES=(librust-quinn-dev librust-rustls-dev librust-rustls-pemfile-dev
	librust-bincode-dev librust-serde-dev librust-serde-derive-dev librust-tokio-dev
	librust-tokio-macros-dev)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rustmq-interop.XXXXXX")
BROKER_PID=
cleanup() {
	if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -KILL "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "interop: PASS $*"; }
fail() { failed=$((failed + 1)); echo "interop: FAIL $*"; }
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
(cd "$CLIENT_DIR" && timeout 1200 "$CARGO" build --release --offline --locked --quiet) ||
	die "cargo build of the client failed"
CLIENT=$CLIENT_DIR/target/release/rustmq-interop-client
echo "interop: client built ($(since "$t1"))"

t2=$(now)
BROKER=$WORK/rustmq-broker
(cd "$ROOT" && timeout 600 "$GO" build -o "$BROKER" ./cmd/rustmq-broker) || die "go build of the broker failed"
echo "interop: broker built ($(since "$t2"))"

# --- golden vectors ----------------------------------------------------------
if [ -n "$GOLDEN" ]; then
	if timeout 30 "$CLIENT" --golden "$GOLDEN" >"$WORK/golden.out" 2>&1; then
		pass "golden vectors match Rust serde+bincode 1.3.3 ($GOLDEN)"
	else
		cat "$WORK/golden.out"
		fail "golden vectors ($GOLDEN)"
	fi
else
	echo "interop: no wire-golden.txt found (set WIRE_GOLDEN); golden check skipped"
fi

# --- broker lifecycle ----------------------------------------------------------
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

# stop_broker: SIGTERM, then the exit status must be 0 within 15 s.
stop_broker() {
	kill -TERM "$BROKER_PID"
	local rc=
	for _ in $(seq 1 150); do
		if ! kill -0 "$BROKER_PID" 2>/dev/null; then
			wait "$BROKER_PID"
			rc=$?
			break
		fi
		sleep 0.1
	done
	if [ -z "$rc" ]; then
		kill -KILL "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
		BROKER_PID=
		echo "broker ignored SIGTERM for 15 s"
		return 1
	fi
	BROKER_PID=
	[ "$rc" -eq 0 ] || { echo "broker exited $rc"; cat "$LOG"; return 1; }
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

echo "interop: total $(since "$t0")"
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
