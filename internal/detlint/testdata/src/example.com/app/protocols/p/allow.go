package p

import "time"

func suppressed(ch chan int, m map[int]int) {
	go func() {}() //detsim:allow the test harness joins this goroutine before returning

	//detsim:allow the wall clock only feeds a log prefix
	_ = time.Now()

	// An allow comment above covers every finding on the next line.
	//detsim:allow the harness drains ch
	go func() { ch <- 1 }()

	// Multi-line constructs are covered from their first line.
	//detsim:allow only the number of entries matters here
	for k := range m {
		_ = k
	}
}

func notSuppressed(ch chan int) {
	// A trailing allow covers its own line, not the next one.
	_ = time.Now() //detsim:allow its own line only
	_ = time.Now() // want `time\.Now`

	// Only the line immediately above counts.
	//detsim:allow too far away

	_ = time.Now() // want `time\.Now`

	// A bare allow suppresses nothing and is reported itself.
	// want +1 `^detsim:allow needs a reason: write //detsim:allow <why this is deterministic>$`
	//detsim:allow
	ch <- 1 // want `native channel send`

	//detsim:allowed is a different word
	_ = time.Now() // want `time\.Now`

	// detsim:allow with a space is an ordinary comment
	_ = time.Now() // want `time\.Now`

	/*detsim:allow block comments are not directives */
	_ = time.Now() // want `time\.Now`
}
