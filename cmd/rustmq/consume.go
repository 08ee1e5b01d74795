package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func runConsume(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("consume", "TOPIC", "Print the records of a topic, one per line, from -offset to the end (or on and on with -f).", e.stderr)
	var cf connFlags
	cf.register(fs)
	parts := fs.String("partition", "", "partition or comma-separated partitions to read (default: all)")
	offset := fs.String("offset", "earliest", "where to start: earliest, latest, an offset N, or -N for N records before the end")
	follow := fs.Bool("f", false, "follow: wait for new records at the end instead of stopping")
	format := fs.String("format", "value", `output: "value", "json" (one object per line) or a format string: %t topic, %p partition, %o offset, %k key, %s value, %K key bytes, %S value bytes, %T timestamp (ms), %h headers, \n, \t, %%`)
	count := fs.Int64("messages", 0, "stop after this many records (0: no limit)")
	poll := fs.Duration("poll", rmq.DefaultReaderPoll, "long-poll wait of a fetch at the end of a partition")
	allHeaders := fs.Bool("all-headers", false, "also print the idempotence headers (rmq-pid, rmq-seq) a producer of this runtime adds")
	timeout := fs.Duration("timeout", 15*time.Second, "give up when the topic's partitions are not known after this long (no broker answers)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one TOPIC, got %d arguments", len(pos))
	}
	start, err := parseOffset(*offset)
	if err != nil {
		return err
	}
	rcfg := rmq.ReaderConfig{Start: start, Follow: *follow, Poll: *poll}
	if *parts != "" {
		for _, s := range strings.Split(*parts, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || n < 0 {
				return usageErr("-partition %q: want a number or a list like 0,2", *parts)
			}
			rcfg.Partitions = append(rcfg.Partitions, int32(n))
		}
	}
	if *count < 0 {
		return usageErr("-messages %d: must not be negative", *count)
	}
	out, err := newPrinter(*format)
	if err != nil {
		return err
	}
	rt, err := cf.open(e)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	if *timeout <= 0 {
		return usageErr("-timeout %v: must be positive", *timeout)
	}
	startCtx, cancel := context.WithTimeout(ctx, *timeout)
	rd, err := rt.NewReader(startCtx, pos[0], rcfg)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("%w while waiting for the partitions of %s", errInterrupted, pos[0])
	case errors.Is(err, context.DeadlineExceeded):
		return withBrokerState(rt, err)
	default:
		return err
	}
	defer rd.Close()
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	var n int64
	bad := 0
	// On a terminal, a last line on stderr says how many records came:
	// output piped elsewhere stays the records alone.
	summary := func() {
		if e.terminal {
			fmt.Fprintf(e.stderr, "rustmq consume: %d %s from %s\n", n, plural(n, "record", "records"), pos[0])
		}
	}
	for *count == 0 || n < *count {
		// Flush before waiting, so that a follower shows what it has.
		// Without -f, records are there to be fetched: a wait longer than
		// -timeout means no broker serves them (the error says why).
		nctx, cancel := ctx, context.CancelFunc(func() {})
		if !*follow {
			nctx, cancel = context.WithTimeout(ctx, *timeout)
		}
		rec, err := nextOrFlush(nctx, rd, w)
		cancel()
		var re *rmq.RecordError
		switch {
		case err == nil:
		case errors.As(err, &re):
			// Printed as fetched (value still encoded, rmq-codec header
			// kept) rather than left out, so the output misses no record.
			bad++
			_ = w.Flush()
			fmt.Fprintf(e.stderr, "rustmq consume: %v (printed as fetched)\n", err)
			if rec == nil {
				continue
			}
		case errors.Is(err, rmq.ErrEndOfPartitions):
			return finish(w, bad, summary)
		case ctx.Err() != nil:
			return finish(w, bad, summary) // interrupted: a normal way to stop following
		case !*follow && errors.Is(err, context.DeadlineExceeded):
			_ = w.Flush()
			return withBrokerState(rt, fmt.Errorf("no record for %v: %w", *timeout, err))
		default:
			_ = w.Flush()
			return err
		}
		n++
		if !*allHeaders {
			rec.Headers = slices.DeleteFunc(rec.Headers, func(h rmq.Header) bool {
				return h.Key == wire.HeaderProducerID || h.Key == wire.HeaderSequence
			})
		}
		if err := out.print(w, rec); err != nil {
			return err
		}
	}
	return finish(w, bad, summary)
}

// nextOrFlush returns the next record, flushing w first when none is
// ready at once.
func nextOrFlush(ctx context.Context, rd *rmq.Reader, w *bufio.Writer) (*rmq.ReadRecord, error) {
	if w.Buffered() > 0 {
		quick, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		rec, err := rd.Next(quick)
		cancel()
		// Only quick's own deadline means "nothing ready": any other
		// answer (a record, a *RecordError with its record, the end) is
		// the caller's.
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return rec, err
		}
		if err := w.Flush(); err != nil {
			return nil, err
		}
	}
	return rd.Next(ctx)
}

func finish(w *bufio.Writer, bad int, summary func()) error {
	if err := w.Flush(); err != nil {
		return err
	}
	summary()
	if bad > 0 {
		return errFailed
	}
	return nil
}

// parseOffset reads -offset.
func parseOffset(s string) (rmq.StartOffset, error) {
	switch s {
	case "earliest", "beginning":
		return rmq.StartEarliest, nil
	case "latest", "end":
		return rmq.StartLatest, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usageErr("-offset %q: want earliest, latest, N or -N", s)
	}
	if n < 0 || strings.HasPrefix(s, "-") {
		return rmq.StartFromEnd(-n), nil
	}
	return rmq.StartOffset(n), nil
}

// printer writes records in one of the output formats.
type printer struct {
	json  bool
	parts []formatPart // nil for value only
}

// formatPart is a literal or a %-verb of a format string.
type formatPart struct {
	lit  string
	verb byte
}

func newPrinter(format string) (*printer, error) {
	switch format {
	case "value":
		return &printer{parts: []formatPart{{verb: 's'}, {lit: "\n"}}}, nil
	case "json":
		return &printer{json: true}, nil
	}
	var parts []formatPart
	var lit strings.Builder
	flushLit := func() {
		if lit.Len() > 0 {
			parts = append(parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if (c != '%' && c != '\\') || i+1 == len(format) {
			lit.WriteByte(c)
			continue
		}
		i++
		d := format[i]
		if c == '\\' {
			switch d {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(d)
			}
			continue
		}
		switch d {
		case '%':
			lit.WriteByte('%')
		case 't', 'p', 'o', 'k', 's', 'K', 'S', 'T', 'h':
			flushLit()
			parts = append(parts, formatPart{verb: d})
		default:
			return nil, usageErr("-format: unknown verb %%%c (want %%t %%p %%o %%k %%s %%K %%S %%T %%h or %%%%)", d)
		}
	}
	flushLit()
	return &printer{parts: parts}, nil
}

func (p *printer) print(w io.Writer, r *rmq.ReadRecord) error {
	if p.json {
		return writeJSON(w, r)
	}
	var b []byte
	for _, part := range p.parts {
		switch part.verb {
		case 0:
			b = append(b, part.lit...)
		case 't':
			b = append(b, r.Topic...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'k':
			b = append(b, r.Key...)
		case 's':
			b = append(b, r.Value...)
		case 'K':
			if r.Key == nil {
				b = append(b, "-1"...)
			} else {
				b = strconv.AppendInt(b, int64(len(r.Key)), 10)
			}
		case 'S':
			b = strconv.AppendInt(b, int64(len(r.Value)), 10)
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(append(append(b, h.Key...), '='), h.Value...)
			}
		}
	}
	_, err := w.Write(b)
	return err
}

// jsonRecord is one line of -format json. Keys, values and header values
// are strings when they are valid UTF-8, else base64 in the *_b64 field.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key,omitempty"`
	KeyB64    string       `json:"key_b64,omitempty"`
	Value     *string      `json:"value,omitempty"`
	ValueB64  string       `json:"value_b64,omitempty"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key      string  `json:"key"`
	Value    *string `json:"value,omitempty"`
	ValueB64 string  `json:"value_b64,omitempty"`
}

func textOrB64(b []byte) (*string, string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func writeJSON(w io.Writer, r *rmq.ReadRecord) error {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	if r.Key != nil {
		j.Key, j.KeyB64 = textOrB64(r.Key)
	}
	j.Value, j.ValueB64 = textOrB64(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueB64 = textOrB64(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
