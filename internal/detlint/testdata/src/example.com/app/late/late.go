// Package late is not simulated: the directive must come before the
// package clause.
package late

//detsim:simulated

import "time"

func Late() { time.Sleep(1) }
