// The directive in a.go makes the whole package simulated, this file too.

//detsim:allow a stray allow without code is harmless, but this one is reasoned

package optin

import "time"

func B() time.Time { return time.Now() } // want `time\.Now`
