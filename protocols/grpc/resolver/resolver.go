// Package resolver defines the addresses a name resolver produces.
package resolver

import "strings"

// Address is one backend address.
type Address struct {
	// Addr is "host:port" on the (simulated) network.
	Addr string
	// Path is the hierarchical path used by hierarchical balancers (e.g.
	// the priority policy routes an address to the child named Path[0] and
	// passes it on with Path[1:]), as grpc-go's hierarchy attributes do.
	Path []string
}

func (a Address) String() string {
	if len(a.Path) == 0 {
		return a.Addr
	}
	return a.Addr + "[" + strings.Join(a.Path, "/") + "]"
}

// State is a resolver's output.
type State struct {
	Addresses []Address
}
