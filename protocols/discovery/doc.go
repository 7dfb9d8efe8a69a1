// Package discovery is UDP broadcast peer discovery modelled on exo's
// exo/networking/udp/udp_discovery.py (Dec 2024), with the historical
// races as named variants (see shared/reference/seed-bugs.md, section 4).
//
// Every node broadcasts a JSON presence ({"type":"discovery","node_id",
// "grpc_port","device_capabilities","priority","interface_name",
// "interface_type"}) every BroadcastInterval to the subnet broadcast
// address of its interface(s), and listens for presences on ListenPort
// (the same port by default, so it also receives its own, which it
// ignores by node id). A presence from an unknown peer, or from a known
// peer at another address with a higher priority, is health-checked and
// then added (PeerUp) or replaces the old entry (PeerUpdated); a presence
// at the known address is health-checked and refreshes the peer's
// last-seen time, or removes the peer if unhealthy (PeerDown). A cleanup
// pass every CleanupInterval checks every known peer and removes those
// not seen for PeerTimeout or failing their health check.
//
// The health check stands in for exo's gRPC HealthCheck RPC: a short
// request/response exchange on a stream connection to the peer's service
// port (see health.go). The health server runs on its own tasks in every
// variant; in exo it shares the asyncio loop, so a loop frozen by #34 also
// stalls its gRPC server. That is not modelled: #34's "lucky" seeds limp
// along as the issue describes.
//
// Variants: Fixed (the Dec 2024 code with #309/#310), RacyCleanup (the
// await-then-write races of #308), Blocking (the #34 blocking-listen
// model). The code is written against netmodel.Env, net.PacketConn and
// net.Conn only, so it runs on the simulator and on an OS runtime; on the
// latter, datagram sockets must have SO_BROADCAST set by the stack.
//
// Only the subnet broadcast address is used by default (one is enough on
// one segment); Options.LimitedBroadcast adds 255.255.255.255 as exo does.
package discovery
