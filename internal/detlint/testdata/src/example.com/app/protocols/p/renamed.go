package p

import (
	s "sync"
	. "time"
	clock "time"
)

func renamedImports(d Duration) {
	clock.Sleep(d) // want `time\.Sleep blocks on the real clock`
	_ = Now()      // want `time\.Now reads the real clock`
	f := Since     // want `time\.Since reads the real clock`
	_ = f
	_ = Unix(0, 0) // fine
	var mu s.Mutex // want `sync\.Mutex blocks outside the simulator`
	_ = &mu
}
