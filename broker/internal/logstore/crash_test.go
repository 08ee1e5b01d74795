package logstore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// crashChildEnv names the directory the crash child appends to; set only in
// the child process.
const crashChildEnv = "LOGSTORE_CRASH_CHILD_DIR"

// crashSegmentBytes is small so that the child rolls segments while it is
// being killed.
const crashSegmentBytes = 8 << 10

// crashBatch is the deterministic content of the k-th batch the crash child
// appends: the parent recomputes it to check what survived.
func crashBatch(k int) []wire.Record {
	return makeRecords(k, 1+k%7)
}

// TestCrashChild is the child half of TestCrashRecovery. It reopens the log,
// continues the sequence of batches after what survived, and prints "ack
// <k> <base>" after each synced append, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	l, err := Open(dir, Options{SegmentBytes: crashSegmentBytes})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	k := 0
	l.Batches(func(uint64, []wire.Record) bool { k++; return true })
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %d\n", k)
	out.Flush()
	// Bounded, in case the parent never kills us.
	for end := k + 100000; k < end; k++ {
		base, err := l.Append(crashBatch(k), true)
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			out.Flush()
			os.Exit(2)
		}
		fmt.Fprintf(out, "ack %d %d\n", k, base)
		out.Flush()
	}
	os.Exit(3)
}

// TestCrashRecovery re-executes the test binary as a child that appends
// with sync set and reports each acknowledged batch, SIGKILLs it mid-stream,
// and checks after every kill that each acknowledged batch is in the log
// exactly once, in order, with its contents intact. The child of the next
// round continues the same log, so recovery of a killed log is exercised
// too.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	acked := map[int]uint64{} // batch number -> base offset the child reported
	for round, killAfter := range []int{5, 40, 150, 17} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		killed := false
		acksThisRound := 0
		timeout := time.After(60 * time.Second)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(line)
				switch {
				case len(f) == 3 && f[0] == "ack":
					k, _ := strconv.Atoi(f[1])
					base, _ := strconv.ParseUint(f[2], 10, 64)
					acked[k] = base
					acksThisRound++
					if acksThisRound == killAfter && !killed {
						if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
							t.Fatal(err)
						}
						killed = true
					}
				case len(f) == 2 && f[0] == "ready":
				case len(f) > 0 && f[0] == "PASS", len(f) > 0 && f[0] == "ok":
				default:
					t.Errorf("round %d: child said %q", round, line)
				}
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("round %d: child did not finish", round)
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited before it was killed: %v", round, err)
		}
		n := checkCrashLog(t, dir, acked)
		if round%2 == 1 {
			// Leave half a frame of an unacknowledged batch at the tail, as
			// a write cut short by a power loss would.
			tearTail(t, dir, n, round)
		}
	}
	if len(acked) < 5+40+150+17 {
		t.Fatalf("only %d batches acknowledged", len(acked))
	}
}

// checkCrashLog opens dir and checks every acknowledged batch, and that the
// log holds nothing but the child's batches, consecutively.
// It returns the number of batches in the log.
func checkCrashLog(t *testing.T, dir string, acked map[int]uint64) int {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: crashSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []appended
	l.Batches(func(base uint64, records []wire.Record) bool {
		got = append(got, appended{base: base, records: records})
		return true
	})
	next := uint64(0)
	for k, b := range got {
		if b.base != next {
			t.Fatalf("batch %d at base %d, want %d", k, b.base, next)
		}
		if !reflect.DeepEqual(b.records, crashBatch(k)) {
			t.Fatalf("batch %d (base %d) contents differ", k, b.base)
		}
		if base, ok := acked[k]; ok && base != b.base {
			t.Fatalf("batch %d acknowledged at base %d, found at %d", k, base, b.base)
		}
		next += uint64(len(b.records))
	}
	for k := range acked {
		if k >= len(got) {
			t.Fatalf("acknowledged batch %d lost: log holds %d batches", k, len(got))
		}
	}
	t.Logf("%d batches acknowledged, %d in the log, %d segments", len(acked), len(got), len(segmentFiles(t, dir)))
	return len(got)
}

// tearTail appends to the last segment of dir a prefix of the frame batch k
// would get.
func tearTail(t *testing.T, dir string, k, round int) {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: crashSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	hw := l.HighWatermark()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	frame, _, err := encodeBatch(hw, crashBatch(k))
	if err != nil {
		t.Fatal(err)
	}
	names := segmentFiles(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, names[len(names)-1]), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(frame[:1+(round*37)%(len(frame)-1)]); err != nil {
		t.Fatal(err)
	}
}
