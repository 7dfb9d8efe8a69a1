package discovery

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// The health-check protocol stands in for exo's gRPC HealthCheck RPC: the
// client connects to the peer's service port and writes healthRequest; the
// server answers "ok <node id>\n" (or "unhealthy <node id>\n") and closes.
// A check passes only if the answer is "ok " followed by the id the
// presence claimed, within ConnectTimeout for the connect and
// HealthCheckTimeout for the rest.
const (
	healthRequest = "health\n"
	maxHealthLine = 256
)

// SetHealthy makes the node's health server answer "ok" (true, the
// default) or "unhealthy" (false). A scenario knob.
func (n *Node) SetHealthy(ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.healthy = ok
}

// SetHealthDelay makes the health server wait d before answering (0, the
// default, answers at once). With d beyond the checker's
// HealthCheckTimeout the server stalls: the check times out. A scenario
// knob for slow health checks.
func (n *Node) SetHealthDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.healthDelay = max(d, 0)
}

// healthCheck checks the peer id at addr: exo's GRPCPeerHandle.health_check
// (connect within ConnectTimeout, then the RPC within HealthCheckTimeout; a
// timeout or error counts as unhealthy). Close aborts it.
func (n *Node) healthCheck(addr, id string) bool {
	ctx, cancel := n.env.WithTimeout(n.ctx, n.opts.ConnectTimeout)
	c, err := n.env.Net().DialContext(ctx, "tcp", addr)
	cancel()
	if err != nil {
		return false
	}
	if !n.track(c) {
		return false
	}
	defer n.untrack(c)
	_ = c.SetDeadline(n.env.Now().Add(n.opts.HealthCheckTimeout))
	if _, err := io.WriteString(c, healthRequest); err != nil {
		return false
	}
	line, err := readLine(c, maxHealthLine)
	return err == nil && line == "ok "+id
}

// serveHealth answers one health-check connection.
func (n *Node) serveHealth(c net.Conn) {
	_ = c.SetReadDeadline(n.env.Now().Add(n.opts.HealthCheckTimeout))
	line, err := readLine(c, maxHealthLine)
	if err != nil || line+"\n" != healthRequest {
		return
	}
	healthy, delay := n.healthState()
	if delay > 0 && !n.wait(delay) {
		return
	}
	answer := "ok "
	if !healthy {
		answer = "unhealthy "
	}
	_ = c.SetWriteDeadline(n.env.Now().Add(n.opts.HealthCheckTimeout))
	_, _ = io.WriteString(c, answer+n.opts.NodeID+"\n")
}

func (n *Node) healthState() (bool, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.healthy, n.healthDelay
}

// acceptLoop is the health server: one task per connection.
func (n *Node) acceptLoop() {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return
		}
		if !n.track(c) {
			return
		}
		n.wg.Add(1)
		n.env.Go(n.name+"/health.conn", func() {
			defer n.wg.Done()
			defer n.untrack(c)
			n.serveHealth(c)
		})
	}
}

// track registers a live connection so that Close can close it; it
// closes c and reports false if the node is closing.
func (n *Node) track(c net.Conn) bool {
	if !n.trackLocked(c) {
		_ = c.Close()
		return false
	}
	return true
}

func (n *Node) trackLocked(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.conns = append(n.conns, c)
	return true
}

// untrack closes c and forgets it.
func (n *Node) untrack(c net.Conn) {
	n.forget(c)
	_ = c.Close()
}

func (n *Node) forget(c net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i := slices.Index(n.conns, c); i >= 0 {
		n.conns = slices.Delete(n.conns, i, i+1)
	}
}

var errLineTooLong = errors.New("discovery: health line too long")

// readLine reads up to the first '\n' (not included) within limit bytes.
func readLine(c net.Conn, limit int) (string, error) {
	var acc []byte
	buf := make([]byte, 64)
	for {
		k, err := c.Read(buf)
		acc = append(acc, buf[:k]...)
		if i := bytes.IndexByte(acc, '\n'); i >= 0 {
			return strings.TrimSuffix(string(acc[:i]), "\r"), nil
		}
		if len(acc) > limit {
			return "", errLineTooLong
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}
