// Package scenarios is simulated because of its "scenarios" path segment.
package scenarios

import "time"

func Run(m map[string]int) {
	go Run(nil)        // want `go statement`
	_ = time.Now()     // want `time\.Now`
	for k := range m { // want `range over map`
		_ = k
	}
}
