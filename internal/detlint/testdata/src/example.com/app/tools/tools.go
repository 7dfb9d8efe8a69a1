// Package tools is an ordinary package: the same code as in simulated
// packages is not reported here.
package tools

import (
	"math/rand"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	mu sync.Mutex
	n  atomic.Int64
)

func Tool(ch chan int, m map[string]int) {
	go Tool(ch, m)
	time.Sleep(time.Duration(rand.Intn(10)))
	_ = time.Now()
	ch <- 1
	<-ch
	select {
	case <-ch:
	default:
	}
	for k := range m {
		_ = k
	}
	_, _ = net.Dial("tcp", "x:1")
	_ = os.Getenv("HOME")
	mu.Lock()
	n.Add(1)
	//detsim:allow
}
