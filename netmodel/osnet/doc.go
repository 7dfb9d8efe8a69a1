// Package osnet is the OS network: the host network interface that
// protocol code gets from netmodel.Env.Net() (netmodel.Stack), implemented
// over real UDP and TCP sockets on the loopback interface, so the same
// protocol code that runs on netmodel's simulated hosts runs on real
// sockets (cmd/simrun live).
//
// # Nodes and addresses
//
// A Network is one segment of nodes. Each node gets its own loopback
// address, in order, from Options.Prefix (default 127.77.0.0/24: node 1
// is 127.77.0.1, node 2 127.77.0.2, ...): Linux routes all of 127.0.0.0/8
// to lo, so binding 127.77.0.2 needs no privileges and no configuration.
// Every socket a node opens is bound to its address, so nodes can all
// listen on the same port (discovery's 5678 and 50051, gossip's 4919) and
// the source address a peer sees is the node's own, as with simulated
// hosts. A wildcard listen address (":port", "0.0.0.0:port") means the
// node's address; listening on another address fails with "cannot assign
// requested address", as binding a foreign address does. Addresses may name
// a node ("n2:4919"), as simulated host names may. Traffic stays on
// loopback: a destination outside 127.0.0.0/8 is "network is unreachable".
// On systems that route only 127.0.0.1 to the loopback interface (macOS),
// AddNode fails with an error naming the address to add as an alias.
//
// # Broadcast
//
// netmodel delivers a datagram sent to the segment's broadcast address (or
// 255.255.255.255) to every host on the segment, the sender included, and
// protocols/discovery relies on it. Real broadcast does not work here: on
// lo a datagram to 127.77.0.255 is delivered to sockets bound to that
// address, not to sockets bound to 127.77.0.2 (and sending needs
// SO_BROADCAST). Multicast on lo works only where lo has the MULTICAST flag
// and a route for 224.0.0.0/4, which is not the default and needs
// privileges to change. So osnet emulates the broadcast at the sender: a
// datagram to the segment's broadcast address or to 255.255.255.255 is sent
// as one unicast datagram to the same port on every node of the Network
// (the sender included), from the sending socket, in node order. A node
// that is not listening on the port simply does not receive it, as on a
// LAN. The fan-out is the only place where osnet is more than a thin
// wrapper: reads, writes, deadlines, connection setup, resets and their
// errors are the kernel's.
//
// # Sockets
//
// Datagram sockets satisfy net.PacketConn (reads return *net.UDPAddr),
// streams net.Conn (with CloseWrite) and net.Listener. The Network tracks
// every open socket: Node.CloseSockets closes a node's (its peers see the
// resets a crash causes; its tasks see net.ErrClosed), and Network.Close
// closes them all, so a live run can always be torn down.
package osnet
