package actors

import (
	"context"
	"testing"
)

// sliceCtx is a context whose dynamic type cannot be compared with ==.
type sliceCtx struct {
	context.Context
	tags []string
}

// TestBatchOneContext: a batch notes the one context its cancellable
// records share, forgets it when a record brings another, and never
// panics on a context type that == cannot compare.
func TestBatchOneContext(t *testing.T) {
	a, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	b, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	odd1 := sliceCtx{a, []string{"x"}}
	odd2 := sliceCtx{a, []string{"x"}}
	add := func(bt *batch, ctx context.Context) {
		r := &Record{Flags: FlagCancellable}
		bt.add(r, &RecordParts{Value: []byte("v"), Ctx: ctx}, 30, false)
	}
	for _, c := range []struct {
		name string
		ctxs []context.Context
		one  bool
	}{
		{"same", []context.Context{a, a, a}, true},
		{"other", []context.Context{a, a, b}, false},
		{"other first", []context.Context{b, a}, false},
		{"not comparable", []context.Context{odd1, odd2}, false},
		{"not comparable alone", []context.Context{odd1}, true},
	} {
		bt := &batch{}
		for _, ctx := range c.ctxs {
			add(bt, ctx)
		}
		if got := bt.ctx != nil; got != c.one || bt.ctxRecs != len(c.ctxs) {
			t.Errorf("%s: one context %v (want %v), %d cancellable records", c.name, got, c.one, bt.ctxRecs)
		}
	}
}
