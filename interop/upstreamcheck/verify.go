package main

import (
	"bytes"
	"fmt"

	"github.com/rustmq/rustmq-go/actors"
)

// report is what verify found. Every field but the counts of delivered,
// failed, failedStored and records is a kind of violation.
type report struct {
	records      int // records of the topic in the dump
	delivered    int // messages acknowledged without error
	failed       int // messages whose result is an error (or missing)
	failedStored int // failed messages found in the log all the same
	largeFailed  int // failed large values, when they are allowed to fail

	missing        int // acknowledged, not in the log
	duplicated     int // in the log more than once
	misplaced      int // acknowledged at one place, stored once at another
	wrongPartition int // acknowledged on a partition other than murmur2's
	keyMismatch    int // stored under another key than sent
	foreign        int // records of the topic that no message of the workload explains
	order          int // messages stored before one of the same key sent earlier
	orderKeys      int // keys with at least one order violation

	examples []string // the first few violations, spelled out
}

func (r *report) violations() int {
	return r.failed + r.missing + r.duplicated + r.misplaced + r.wrongPartition + r.keyMismatch + r.foreign + r.order
}

func (r *report) example(format string, args ...any) {
	if len(r.examples) < 8 {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

type place struct {
	partition int32
	offset    int64
}

// verify checks the results of msgs against log, the records the server
// holds for every topic. Messages are in send order; results[i] is msg i's.
// With allowLargeFailures a failed large value is counted in largeFailed
// instead of failed.
func verify(topic string, partitions int32, msgs []message, results []result, log []stored, allowLargeFailures bool) *report {
	rep := &report{}
	where := make([][]place, len(msgs))
	keyOf := make([][]byte, len(msgs))
	for _, s := range log {
		if s.topic != topic {
			continue
		}
		rep.records++
		i, ok := messageIndex(s.value)
		if !ok || i >= len(msgs) || !bytes.Equal(s.value, msgs[i].value) {
			rep.foreign++
			rep.example("record at %d/%d belongs to no message of the workload", s.partition, s.offset)
			continue
		}
		where[i] = append(where[i], place{s.partition, s.offset})
		keyOf[i] = s.key
	}

	for i, m := range msgs {
		res := results[i]
		ok := res.done && res.err == nil
		switch {
		case ok:
			rep.delivered++
		case m.large && allowLargeFailures:
			rep.largeFailed++
			if len(where[i]) > 0 {
				rep.failedStored++
			}
		default:
			rep.failed++
			if len(where[i]) > 0 {
				rep.failedStored++
			}
			if res.err != nil {
				rep.example("message %d failed: %v", i, res.err)
			} else {
				rep.example("message %d has no result", i)
			}
		}
		if len(where[i]) > 1 {
			rep.duplicated++
			rep.example("message %d stored %d times: %v", i, len(where[i]), where[i])
		}
		if len(where[i]) > 0 && !bytes.Equal(keyOf[i], m.key) {
			rep.keyMismatch++
			rep.example("message %d stored with key %q, sent with %q", i, keyOf[i], m.key)
		}
		if !ok {
			continue
		}
		if want := actors.KeyPartition(m.key, partitions); res.partition != want {
			rep.wrongPartition++
			rep.example("message %d (key %q) acknowledged on partition %d, murmur2 gives %d", i, m.key, res.partition, want)
		}
		switch {
		case len(where[i]) == 0:
			rep.missing++
			rep.example("message %d acknowledged at %d/%d, not in the log", i, res.partition, res.offset)
		case len(where[i]) == 1 && where[i][0] != (place{res.partition, res.offset}):
			rep.misplaced++
			rep.example("message %d acknowledged at %d/%d, stored at %d/%d", i, res.partition, res.offset, where[i][0].partition, where[i][0].offset)
		}
	}

	// Per-key order as a consumer of the log sees it: in send order, each
	// stored message of a key must lie after every earlier one.
	type seen struct {
		partition int32
		max       int64
		bad       bool
	}
	last := map[string]*seen{}
	for i, m := range msgs {
		if len(where[i]) == 0 {
			continue
		}
		at := where[i][0]
		for _, p := range where[i][1:] {
			if p.offset < at.offset {
				at = p
			}
		}
		s := last[string(m.key)]
		if s == nil {
			last[string(m.key)] = &seen{partition: at.partition, max: at.offset}
			continue
		}
		if at.partition == s.partition && at.offset < s.max {
			rep.order++
			if !s.bad {
				s.bad = true
				rep.orderKeys++
			}
			rep.example("key %q: message %d stored at %d/%d, before an earlier message at offset %d", m.key, i, at.partition, at.offset, s.max)
		}
		if at.partition == s.partition && at.offset > s.max {
			s.max = at.offset
		}
	}
	return rep
}

func (r *report) print() {
	logf("log: %d records of the topic; %d messages acknowledged, %d failed, %d large values failed where allowed (%d failed ones stored all the same)",
		r.records, r.delivered, r.failed, r.largeFailed, r.failedStored)
	logf("violations: %d failed, %d missing, %d duplicated, %d misplaced, %d on a non-murmur2 partition, %d under another key, %d foreign records",
		r.failed, r.missing, r.duplicated, r.misplaced, r.wrongPartition, r.keyMismatch, r.foreign)
	logf("per-key order violations: %d (in %d keys)", r.order, r.orderKeys)
	for _, e := range r.examples {
		logf("  e.g. %s", e)
	}
}
