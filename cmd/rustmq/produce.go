package main

import (
	"bufio"
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
)

func runProduce(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("produce", "TOPIC", "Send each line of stdin (or -file) as one message; print a summary on stderr.", e.stderr)
	var cf connFlags
	var pf produceFlags
	cf.register(fs)
	pf.register(fs)
	file := fs.String("file", "", "read lines from this file instead of stdin")
	keySep := fs.String("key-separator", "", "split each line at the first SEP into key and value (lines without it are keyless)")
	var headers repeated
	fs.Var(&headers, "header", "KEY=VALUE header added to every message (repeatable)")
	validJSON := fs.Bool("json", false, "send only lines that are valid JSON; count the others as failed")
	partition := fs.Int("partition", -1, "send every message to this partition (default: by key, sticky without)")
	maxLine := fs.Int("max-line-bytes", 1<<20, "longest line accepted")
	progress := fs.String("progress", "auto", "progress line on stderr: auto (when stderr is a terminal), always or never")
	timeout := fs.Duration("delivery-timeout", rmq.DefaultDeliveryTimeout, "bound on the time from reading a line to its acknowledgement")
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
	pc.DeliveryTimeout = *timeout
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
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), *maxLine)
	line := 0
	var readErr error
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if len(text) > 0 && text[len(text)-1] == '\r' {
			text = text[:len(text)-1]
		}
		m := &rmq.Message{Payload: append([]byte(nil), text...), Headers: hs}
		if *keySep != "" {
			if k, v, ok := strings.Cut(string(text), *keySep); ok {
				m.Key, m.Payload = []byte(k), []byte(v)
			}
		}
		if *partition >= 0 {
			m.Partition, m.ExplicitPartition = int32(*partition), true
		}
		if *validJSON && !json.Valid(m.Payload) {
			st.fail(fmt.Errorf("line %d: not valid JSON", line), e.stderr)
			continue
		}
		n := line
		err := p.SendAsync(ctx, m, func(_ *rmq.Result, err error) {
			if err != nil {
				st.fail(fmt.Errorf("line %d: %w", n, err), e.stderr)
				return
			}
			st.acked.Add(1)
		})
		if err != nil {
			st.fail(fmt.Errorf("line %d: %w", n, err), e.stderr)
			if ctx.Err() != nil || errors.Is(err, rmq.ErrClosed) {
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		readErr = fmt.Errorf("reading input after line %d: %w", line, err)
	}
	// Deliver what was accepted, also after Ctrl-C: a second signal (or
	// the delivery timeout) ends the wait.
	closeCtx, cancel := context.WithTimeout(context.Background(), *timeout+10*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil {
		fmt.Fprintf(e.stderr, "rustmq produce: close: %v\n", err)
	}
	stopProgress()
	st.summary(e.stderr, topic)
	if readErr != nil {
		return readErr
	}
	if st.failed.Load() > 0 {
		return errFailed
	}
	return nil
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

// produceStats counts the outcome of a produce run.
type produceStats struct {
	start               time.Time
	acked, failed       atomic.Int64
	mu                  sync.Mutex // serialises lines on stderr
	firstErrs           int
	progressMu          sync.Mutex
	progressLineWritten bool
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
				fmt.Fprintf(w, "\r\033[Kproduce %s: %.0f msgs/s, acknowledged %d, failed %d", topic, rate, acked, st.failed.Load())
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
	fmt.Fprintf(w, "produced %d messages to %s: %d acknowledged, %d failed in %v (%.0f msgs/s)\n",
		acked+failed, topic, acked, failed, d.Round(time.Millisecond), float64(acked)/max(d.Seconds(), 1e-9))
}
