package p

import (
	"testing"
	"time"
)

// Test files of simulated packages are checked like any other file.
func TestSomething(t *testing.T) {
	done := make(chan bool)
	go func() { done <- true }() // want `go statement` `native channel send`
	<-done                       // want `native channel receive`
	time.Sleep(time.Millisecond) // want `time\.Sleep`
}
