// Package scenarios registers the project's named scenarios with the
// scenario registry (sim/scenario), for the simrun CLI and go test. Import it
// for its side effect:
//
//	import _ "github.com/detsim/detsim/scenarios"
//
// Recorded failing seeds of buggy variants live in testdata/<scenario>/ and
// are replayed by go test.
package scenarios
