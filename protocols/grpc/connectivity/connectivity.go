// Package connectivity defines gRPC's connectivity states (gRPC
// connectivity-semantics-and-api.md).
package connectivity

import "fmt"

// State is a channel's or subchannel's connectivity state.
type State int

const (
	Idle State = iota
	Connecting
	Ready
	TransientFailure
	Shutdown
)

func (s State) String() string {
	switch s {
	case Idle:
		return "IDLE"
	case Connecting:
		return "CONNECTING"
	case Ready:
		return "READY"
	case TransientFailure:
		return "TRANSIENT_FAILURE"
	case Shutdown:
		return "SHUTDOWN"
	}
	return fmt.Sprintf("State(%d)", int(s))
}
