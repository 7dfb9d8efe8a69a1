package p

import "time"

type clockHolder struct{ Now func() time.Time }

func clockCalls(d time.Duration, t time.Time) {
	_ = time.Now()               // want `^time\.Now reads the real clock: use env\.Now\(\)$`
	time.Sleep(d)                // want `^time\.Sleep blocks on the real clock: use env\.Sleep\(d\)$`
	_ = time.After(d)            // want `^time\.After fires on the real clock: use env\.NewTimer\(d\)$`
	_ = time.Tick(d)             // want `^time\.Tick fires on the real clock: use env\.NewTicker\(d\)$`
	tm := time.NewTimer(d)       // want `^time\.NewTimer fires on the real clock: use env\.NewTimer\(d\)$`
	tk := time.NewTicker(d)      // want `^time\.NewTicker fires on the real clock: use env\.NewTicker\(d\)$`
	time.AfterFunc(d, func() {}) // want `^time\.AfterFunc fires on the real clock: use env\.AfterFunc\(d, f\)$`
	_ = time.Since(t)            // want `^time\.Since reads the real clock: use env\.Since\(t\)$`
	_ = time.Until(t)            // want `^time\.Until reads the real clock: use env\.Until\(t\)$`

	// Methods on values obtained elsewhere are not reported again.
	tm.Stop()
	tk.Reset(d)
}

func clockValues() {
	now := time.Now // want `time\.Now`
	_ = now
	sleepers := []func(time.Duration){time.Sleep} // want `time\.Sleep`
	_ = sleepers
	_ = clockHolder{Now: time.Now} // want `time\.Now`
}

// Deterministic parts of package time are fine.
func clockAllowed(t time.Time) time.Duration {
	var _ *time.Timer
	var _ *time.Ticker
	_ = time.Unix(0, 0).Add(3 * time.Millisecond)
	_ = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	_, _ = time.ParseDuration("1s")
	_ = time.Duration.String
	return t.Sub(t) + time.Second
}

// A local variable named time is not the package.
func clockShadowed(t time.Time) time.Time {
	time := clockHolder{Now: func() time.Time { return t }}
	return time.Now()
}
