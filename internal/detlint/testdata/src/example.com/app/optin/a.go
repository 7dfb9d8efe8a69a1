// Package optin is simulated because one of its files says so, although
// its import path has no simulated segment.
//
//detsim:simulated
package optin

import "time"

func A() { time.Sleep(1) } // want `time\.Sleep`
