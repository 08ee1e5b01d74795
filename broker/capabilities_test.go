package broker

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"default", Config{}, []string{"idempotence", "reorder-window", "whole-requests"}},
		{"reorder window off", Config{IdempotenceReorderWindow: -1}, []string{"idempotence", "whole-requests"}},
		// Required auth: the probe is still answered before Authenticate.
		{"auth required", Config{Auth: &AuthConfig{Users: map[string]string{"u": "p"}, Required: true}},
			[]string{"idempotence", "reorder-window", "authenticate", "whole-requests"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, tc.cfg)
			c := dial(t, b, b.Addr())
			r, err := c.capabilities()
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != wire.CapabilitiesVersion || !reflect.DeepEqual(r.Features, tc.want) {
				t.Fatalf("capabilities = %+v, want version %d features %v", r, wire.CapabilitiesVersion, tc.want)
			}
		})
	}
}

func TestCapabilitiesMalformedAndInjected(t *testing.T) {
	b := startBroker(t, Config{})
	c := dial(t, b, b.Addr())
	// A later client version is answered with this broker's version.
	body, err := c.do(wire.TypeCapabilities, (&wire.CapabilitiesRequest{Version: 9}).Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	var r wire.CapabilitiesResponse
	if err := r.Unmarshal(body); err != nil || r.Version != 1 {
		t.Fatalf("answer to version 9: %+v, %v", r, err)
	}
	// Strict decoding: a trailing byte is refused with 0xFF.
	_, err = c.do(wire.TypeCapabilities, []byte{1, 0, 0, 0, 0})
	if text, ok := isErrorFrame(err); !ok || !strings.Contains(text, "CapabilitiesRequest") {
		t.Fatalf("trailing byte: %v", err)
	}
	b.FailNext(Fault{RequestType: wire.TypeCapabilities, Code: 0xFF})
	if _, err := c.capabilities(); err == nil {
		t.Fatal("injected fault not applied")
	} else if _, ok := isErrorFrame(err); !ok {
		t.Fatalf("injected fault: %v", err)
	}
	if _, err := c.capabilities(); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
}
