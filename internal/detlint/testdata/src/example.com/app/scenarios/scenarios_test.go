// The external test package's path ends in "scenarios_test"; it still tests
// simulated code and is checked.
package scenarios_test

import (
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	time.Sleep(0) // want `time\.Sleep`
}
