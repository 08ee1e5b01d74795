package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/rustmq/rustmq-go/actors"
)

// fixture builds a small workload and the results and log of a flawless run:
// each message acknowledged and stored at the next offset of its murmur2
// partition.
func fixture(t *testing.T, n int) ([]message, []result, []stored) {
	t.Helper()
	o := &options{messages: n, keys: 3, partitions: 2, minValue: minValue, maxValue: 40, seed: 7}
	msgs := workload(o)
	results := make([]result, n)
	var log []stored
	next := map[int32]int64{}
	for i, m := range msgs {
		p := actors.KeyPartition(m.key, 2)
		results[i] = result{done: true, partition: p, offset: next[p]}
		log = append(log, stored{topic: "t", partition: p, offset: next[p], key: m.key, value: m.value})
		next[p]++
	}
	return msgs, results, log
}

func TestVerifyCleanRun(t *testing.T) {
	msgs, results, log := fixture(t, 30)
	rep := verify("t", 2, msgs, results, log, false)
	if rep.violations() != 0 || rep.delivered != 30 || rep.records != 30 {
		t.Fatalf("clean run: %+v", rep)
	}
}

func TestVerifyFindsEachViolation(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(msgs []message, res []result, log []stored) []stored
		check func(r *report) bool
	}{
		{"failed", func(_ []message, res []result, log []stored) []stored {
			res[3].err = errors.New("broker said no")
			return log
		}, func(r *report) bool { return r.failed == 1 }},
		{"missing", func(_ []message, _ []result, log []stored) []stored {
			return append(log[:4:4], log[5:]...)
		}, func(r *report) bool { return r.missing == 1 }},
		{"duplicated", func(_ []message, _ []result, log []stored) []stored {
			d := log[6]
			d.offset = 1000
			return append(log, d)
		}, func(r *report) bool { return r.duplicated == 1 }},
		{"misplaced", func(_ []message, res []result, log []stored) []stored {
			res[7].offset += 100
			return log
		}, func(r *report) bool { return r.misplaced == 1 }},
		{"wrong partition", func(_ []message, res []result, log []stored) []stored {
			res[8].partition = 1 - res[8].partition
			return log
		}, func(r *report) bool { return r.wrongPartition == 1 }},
		{"key", func(_ []message, _ []result, log []stored) []stored {
			log[9].key = []byte("other")
			return log
		}, func(r *report) bool { return r.keyMismatch == 1 }},
		{"foreign", func(_ []message, _ []result, log []stored) []stored {
			return append(log, stored{topic: "t", value: []byte("not ours at all")})
		}, func(r *report) bool { return r.foreign == 1 }},
		{"order", func(msgs []message, res []result, log []stored) []stored {
			// Swap the stored places of the first two messages of one key.
			var a, b = -1, -1
			for i := range msgs {
				if string(msgs[i].key) != string(msgs[0].key) {
					continue
				}
				if a < 0 {
					a = i
				} else {
					b = i
					break
				}
			}
			log[a].offset, log[b].offset = log[b].offset, log[a].offset
			res[a].offset, res[b].offset = res[b].offset, res[a].offset
			return log
		}, func(r *report) bool { return r.order == 1 && r.orderKeys == 1 && r.misplaced == 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs, res, log := fixture(t, 30)
			log = c.spoil(msgs, res, log)
			rep := verify("t", 2, msgs, res, log, false)
			if !c.check(rep) || rep.violations() == 0 {
				t.Fatalf("%s not reported: %+v", c.name, rep)
			}
		})
	}
}

func TestVerifyAllowsLargeFailuresOnlyWhenAsked(t *testing.T) {
	msgs, res, log := fixture(t, 10)
	msgs[2].large = true
	res[2].err = errors.New("could not decode")
	log = append(log[:2:2], log[3:]...)
	if rep := verify("t", 2, msgs, res, log, true); rep.violations() != 0 || rep.largeFailed != 1 {
		t.Fatalf("allowed large failure counted: %+v", rep)
	}
	if rep := verify("t", 2, msgs, res, log, false); rep.failed != 1 {
		t.Fatalf("large failure not counted: %+v", rep)
	}
}

func TestParseDump(t *testing.T) {
	in := `{"topic":"t","partition":1,"offset":5,"key":"6b","value":"00ff","headers":[{"key":"h","value":"01"}],"timestamp":9}
{"topic":"t","partition":0,"offset":0,"key":null,"value":"","headers":[],"timestamp":0}
{"topic":"t","partition":0,"offset":1,"key":"","value":"","headers":[],"timestamp":0}
`
	got, err := parseDump(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].partition != 1 || got[0].offset != 5 || string(got[0].key) != "k" || got[0].value[1] != 0xff {
		t.Fatalf("parsed %+v", got)
	}
	if got[1].key != nil || got[2].key == nil {
		t.Fatalf("null key and empty key must differ: %+v", got[1:])
	}
	if _, err := parseDump(strings.NewReader("{not json}\n")); err == nil {
		t.Fatal("bad line accepted")
	}
}
