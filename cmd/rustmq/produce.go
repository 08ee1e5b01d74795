package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func runProduce(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("produce", "TOPIC", `Send each line of stdin (or -file) as one message, empty lines as empty messages; "\n" or "\r\n" ends a line.
Failures are printed on stderr as they happen, and a summary at the end; the exit status is 1 when a line failed.
An interrupt (Ctrl-C, SIGTERM) stops reading and waits for what was sent; a second one gives up on it (exit status 130).`, e.stderr)
	var cf connFlags
	var pf produceFlags
	cf.register(fs)
	pf.register(fs)
	file := fs.String("file", "", "read lines from this file instead of stdin")
	keySep := fs.String("key-separator", "", "split each line at the first SEP into key and value (lines without it are keyless)")
	var headers repeated
	fs.Var(&headers, "header", "KEY=VALUE header added to every message (repeatable)")
	validJSON := fs.Bool("json", false, "send only lines that are valid JSON; count the others as failed")
	partition := fs.Int("partition", -1, "send every message to this partition; -1: choose by key (sticky for keyless messages)")
	maxLine := fs.Int("max-line-bytes", 1<<20, "longest line accepted; a longer one fails alone and reading goes on")
	progress := fs.String("progress", "auto", "progress line on stderr: auto (when stderr is a terminal), always or never")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one TOPIC, got %d arguments", len(pos))
	}
	topic := pos[0]
	var hs []rmq.Header
	for _, h := range headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return usageErr("-header %q: want KEY=VALUE", h)
		}
		if k == wire.HeaderProducerID || k == wire.HeaderSequence {
			return usageErr("-header %q: %s is the producer's idempotence header", h, k)
		}
		hs = append(hs, rmq.Header{Key: k, Value: []byte(v)})
	}
	showProgress, err := progressMode(*progress, e.terminal)
	if err != nil {
		return err
	}
	pc, err := pf.config()
	if err != nil {
		return err
	}
	var in io.Reader = e.stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return usageErr("-file: %v", err)
		}
		defer f.Close()
		in = f
	}
	if *maxLine < 1 {
		return usageErr("-max-line-bytes %d: must be positive", *maxLine)
	}

	rt, err := cf.open(e)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer(topic, pc)
	if err != nil {
		return err
	}

	var st produceStats
	st.start = time.Now()
	stopProgress := func() {}
	if showProgress {
		stopProgress = st.progress(e.stderr, topic)
	}
	// Lines are read in a goroutine of their own, so that an interrupt
	// ends the run even while stdin (a terminal, a pipe kept open) has
	// nothing to read; that goroutine ends with the process.
	lines := make(chan inputLine, 64)
	go scanLines(in, *maxLine, lines)
	// Accepted messages live on the abort context: the first interrupt
	// stops reading, and what was accepted is still delivered, until a
	// second interrupt (or Close's deadline).
	abort := e.abortCtx()
	var callbacks sync.WaitGroup // of the messages accepted
	var readErr error
	interrupted := false
	lastLine := 0
read:
	for {
		var ln inputLine
		var ok bool
		select {
		case <-ctx.Done():
			interrupted = true
			break read
		case ln, ok = <-lines:
		}
		if !ok {
			break
		}
		if ln.err != nil {
			readErr = fmt.Errorf("reading input after line %d: %w", lastLine, ln.err)
			break
		}
		lastLine = ln.n
		if ln.size > *maxLine {
			st.fail(fmt.Errorf("line %d: %d bytes, longer than -max-line-bytes %d: not sent", ln.n, ln.size, *maxLine), e.stderr)
			continue
		}
		text := ln.data
		m := &rmq.Message{Payload: text, Headers: hs}
		if *keySep != "" {
			if i := bytes.Index(text, []byte(*keySep)); i >= 0 {
				m.Key, m.Payload = text[:i:i], text[i+len(*keySep):]
			}
		}
		if *partition >= 0 {
			m.Partition, m.ExplicitPartition = int32(*partition), true
		}
		if *validJSON && !json.Valid(m.Payload) {
			st.fail(fmt.Errorf("line %d: not valid JSON", ln.n), e.stderr)
			continue
		}
		n := ln.n
		callbacks.Add(1)
		err := p.SendAsync(abort, m, func(_ *rmq.Result, err error) {
			defer callbacks.Done()
			if err != nil {
				st.lost.Add(1)
				st.fail(fmt.Errorf("line %d: %w", n, err), e.stderr)
				return
			}
			st.acked.Add(1)
		})
		if err != nil {
			callbacks.Done()
			st.fail(fmt.Errorf("line %d: %w", n, err), e.stderr)
			if abort.Err() != nil || errors.Is(err, rmq.ErrClosed) {
				break
			}
			continue
		}
		st.accepted.Add(1)
	}
	if pending := st.accepted.Load() - st.acked.Load() - st.lost.Load(); interrupted && pending > 0 {
		st.note(e.stderr, fmt.Sprintf("rustmq produce: interrupted after line %d: delivering the %d %s still pending (interrupt again to give up on them)",
			lastLine, pending, plural(pending, "message", "messages")))
	}
	// Deliver what was accepted: a second interrupt or the delivery
	// timeout ends the wait, and what is left fails with ErrClosed.
	closeCtx, cancel := context.WithTimeout(abort, pc.DeliveryTimeout+10*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil && abort.Err() == nil {
		st.note(e.stderr, fmt.Sprintf("rustmq produce: close: %v", err))
	}
	// Close does not wait past its context for the callbacks of the
	// messages it failed: wait for them here (briefly), so that the
	// summary counts every message.
	waitCallbacks(&callbacks, 5*time.Second)
	stopProgress()
	st.summary(e.stderr, topic)
	switch {
	case readErr != nil:
		return readErr
	case interrupted:
		return fmt.Errorf("%w after line %d, before the end of the input", errInterrupted, lastLine)
	case st.failed.Load() > 0:
		return errFailed
	}
	return nil
}

// inputLine is one line of produce's input, numbered from 1, without its
// line ending; size is its length, data only its first -max-line-bytes.
// A read error ends the input with err set.
type inputLine struct {
	n    int
	data []byte
	size int
	err  error
}

// scanLines sends the lines of r to out and closes it at the end of r. A
// line ends at "\n", or "\r\n", or the end of input. A line longer than
// limit bytes is read to its end but not kept (size says how long it was),
// so that one oversized line costs one failed message and no more than
// limit bytes of memory.
func scanLines(r io.Reader, limit int, out chan<- inputLine) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		var line []byte
		size := 0
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			size += len(frag)
			if len(line)+len(frag) <= limit+2 { // room for "\r\n"
				line = append(line, frag...)
			} else {
				line = append(line[:0], frag[max(0, len(frag)-2):]...) // keep the ending
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			out <- inputLine{n: n, err: err}
			return
		}
		if size == 0 { // end of input
			return
		}
		if bytes.HasSuffix(line, []byte("\n")) {
			line, size = line[:len(line)-1], size-1
		}
		if bytes.HasSuffix(line, []byte("\r")) {
			line, size = line[:len(line)-1], size-1
		}
		if size > limit {
			line = nil
		}
		out <- inputLine{n: n, data: line, size: size}
		if err == io.EOF {
			return
		}
	}
}

// progressMode reads -progress.
func progressMode(mode string, terminal bool) (bool, error) {
	switch mode {
	case "auto":
		return terminal, nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, usageErr("-progress %q: want auto, always or never", mode)
}

// produceStats counts the outcome of a produce run: failed counts every
// line not delivered, lost those of them the producer had accepted.
type produceStats struct {
	start                         time.Time
	accepted, acked, failed, lost atomic.Int64
	mu                            sync.Mutex // serialises lines on stderr
	firstErrs                     int
	upstreamHinted                bool
	progressMu                    sync.Mutex
	progressLineWritten           bool
}

// maxErrorLines bounds the failure lines printed; the summary counts all.
const maxErrorLines = 20

func (st *produceStats) fail(err error, w io.Writer) {
	st.failed.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.firstErrs++
	switch {
	case st.firstErrs <= maxErrorLines:
		st.clearProgressLocked(w)
		fmt.Fprintf(w, "rustmq produce: %v\n", err)
	case st.firstErrs == maxErrorLines+1:
		st.clearProgressLocked(w)
		fmt.Fprintln(w, "rustmq produce: more failures; see the summary")
	}
	if !st.upstreamHinted && errors.Is(err, rmq.ErrUpstreamBroker) {
		st.upstreamHinted = true
		st.clearProgressLocked(w)
		fmt.Fprintln(w, upstreamHint("produce"))
	}
}

// upstreamHint is the CLI's advice for an error matching
// rmq.ErrUpstreamBroker, whose text names the runtime's settings.
func upstreamHint(cmd string) string {
	return "rustmq " + cmd + ": the broker behaves like upstream RustMQ: run with -upstream and -static-partitions TOPIC=PARTITIONS"
}

// note writes one line to w, clearing the progress line first.
func (st *produceStats) note(w io.Writer, line string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.clearProgressLocked(w)
	fmt.Fprintln(w, line)
}

func (st *produceStats) clearProgressLocked(w io.Writer) {
	st.progressMu.Lock()
	defer st.progressMu.Unlock()
	if st.progressLineWritten {
		fmt.Fprint(w, "\r\033[K")
		st.progressLineWritten = false
	}
}

// progress rewrites one line on w twice a second until the returned
// function is called.
func (st *produceStats) progress(w io.Writer, topic string) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		last, lastAt := int64(0), st.start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				acked := st.acked.Load()
				rate := float64(acked-last) / now.Sub(lastAt).Seconds()
				last, lastAt = acked, now
				st.mu.Lock()
				st.progressMu.Lock()
				pending := st.accepted.Load() - acked - st.lost.Load()
				fmt.Fprintf(w, "\r\033[Kproduce %s: %.0f msgs/s, acknowledged %d, failed %d, pending %d", topic, rate, acked, st.failed.Load(), max(pending, 0))
				st.progressLineWritten = true
				st.progressMu.Unlock()
				st.mu.Unlock()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		st.mu.Lock()
		st.clearProgressLocked(w)
		st.mu.Unlock()
	}
}

func (st *produceStats) summary(w io.Writer, topic string) {
	d := time.Since(st.start)
	acked, failed := st.acked.Load(), st.failed.Load()
	fmt.Fprintf(w, "produced %d %s to %s: %d acknowledged, %d failed in %v (%.0f msgs/s)\n",
		acked+failed, plural(acked+failed, "message", "messages"), topic, acked, failed, d.Round(time.Millisecond), float64(acked)/max(d.Seconds(), 1e-9))
}

// plural returns one when n is 1, else many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// waitCallbacks waits until wg is done, at most d.
func waitCallbacks(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
