// Package foo is simulated because a parent segment is "scenarios".
package foo

import "sync"

var mu sync.Mutex // want `sync\.Mutex`
