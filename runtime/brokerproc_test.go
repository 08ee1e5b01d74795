package runtime_test

import (
	"testing"

	"github.com/rustmq/rustmq-go/internal/proctest"
)

// The development broker as a program in a child process, for the tests
// that SIGKILL it and start it again on the same port and data directory.

// brokerBin is the broker binary, built on first use and removed by
// TestMain.
var brokerBin = proctest.Build(proctest.BrokerPkg)

// startBrokerProc runs the broker binary with args and returns once its
// banner says where it listens; it is killed with the test.
func startBrokerProc(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, brokerBin.Path(t, "rustmq-broker"), args...)
}
