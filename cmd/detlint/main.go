// Command detlint reports sources of nondeterminism (real clock, goroutines,
// native channels, sync primitives, unseeded randomness, real I/O, map
// iteration order) in detsim's simulated packages.
//
// Usage:
//
//	go run ./cmd/detlint ./...
//
// Run with -h for the rules, the //detsim:simulated opt-in directive and the
// //detsim:allow suppression comment. It exits 0 when there are no findings,
// 3 when there are, and 1 when packages fail to load or type-check (go run
// turns any non-zero status into 1 after printing "exit status N").
package main

import (
	"github.com/detsim/detsim/internal/detlint"
	"golang.org/x/tools/go/analysis/singlechecker"
)

func main() { singlechecker.Main(detlint.Analyzer) }
