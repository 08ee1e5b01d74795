package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Every value starts with valueMagic and the message's index (big-endian
// uint32), so a record in the dump names the message it came from.
const (
	valueMagic = "rmqck"
	minValue   = len(valueMagic) + 4 + 1
)

// message is one message of the workload, in send order.
type message struct {
	index int
	key   []byte
	value []byte
	large bool
}

// workload builds the messages deterministically from the seed: keys drawn
// uniformly from o.keys names, values of random length and content.
func workload(o *options) []message {
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	msgs := make([]message, o.messages)
	for i := range msgs {
		n := o.minValue + rng.IntN(o.maxValue-o.minValue+1)
		large := o.largeFraction > 0 && rng.Float64() < o.largeFraction
		if large {
			n = o.largeMin + rng.IntN(o.largeMax-o.largeMin+1)
		}
		v := make([]byte, n)
		copy(v, valueMagic)
		binary.BigEndian.PutUint32(v[len(valueMagic):], uint32(i))
		for j := len(valueMagic) + 4; j < n; j++ {
			v[j] = byte(rng.Uint32())
		}
		msgs[i] = message{
			index: i,
			key:   fmt.Appendf(nil, "key-%05d", rng.IntN(o.keys)),
			value: v,
			large: large,
		}
	}
	return msgs
}

// messageIndex returns the index a value carries, or false for a value the
// workload did not make.
func messageIndex(v []byte) (int, bool) {
	if len(v) < minValue || string(v[:len(valueMagic)]) != valueMagic {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(v[len(valueMagic):])), true
}
