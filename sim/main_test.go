package sim_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain proves teardown: after every test, no goroutine of any World
// (task coroutines, loop, watchdog) is left behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
