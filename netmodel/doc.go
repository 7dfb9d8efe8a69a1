//detsim:simulated

// Package netmodel is the simulated network: hosts with netip addresses on
// named segments, UDP-style datagram sockets (net.PacketConn, with
// broadcast), TCP-style byte streams (net.Listener, net.Conn), per-link
// latency, loss, duplication, reordering, capacity and hold/release, and
// faults: partitions, one-way cuts, isolation, flapping, host crashes and
// restarts, clock offsets. Everything runs on a sim.World, in virtual time,
// with every random decision drawn from per-link streams derived from the
// run's seed, so a seed replays the network exactly.
//
// Protocol code receives an Env (a sim.Env plus the host's network Stack)
// and uses the standard net interfaces, so the same code runs on the OS
// network.
package netmodel
