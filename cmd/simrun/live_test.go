package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// livePrefix is the k-th /28 (k < 16) of a /24 that belongs to this test
// process (derived from its pid; other packages' live tests use other
// ranges), so that concurrent test processes never share an address.
func livePrefix(k int) netip.Prefix {
	pid := os.Getpid()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(80 + (pid>>8)%16), byte(pid), byte(16 * k)}), 28)
}

// liveHost is the i-th address of p (node i-1's).
func liveHost(p netip.Prefix, i int) netip.Addr {
	a := p.Addr().As4()
	a[3] += byte(i)
	return netip.AddrFrom4(a)
}

// oneLine checks a bad-input outcome: exit 2 and one line on stderr that
// contains every want.
func oneLine(t *testing.T, r result, want ...string) {
	t.Helper()
	assert.Equal(t, exitUsage, r.code, "%v", r)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	for _, w := range want {
		assert.Contains(t, r.stderr, w)
	}
}

func TestLiveRunsPriorityForReal(t *testing.T) {
	p := livePrefix(1)
	r := cli("live", "priority", "-prefix", p.String())
	require.Equal(t, exitPass, r.code, "%v", r)
	assert.Contains(t, r.stdout, "live priority (fixed): 3 nodes on "+p.String()+" (lo)")
	assert.Contains(t, r.stdout, "backend p0 serving on "+liveHost(p, 2).String()+":50051")
	assert.Regexp(t, `failover-within-timer\s+ok\s+failed over to p1`, r.stdout)
	assert.Regexp(t, `switched-back\s+ok`, r.stdout)
	assert.Contains(t, r.stdout, "teardown: every task ended")
	assert.Contains(t, r.stdout, "live priority: pass")
	assert.Empty(t, r.stderr)

	r = cli("live", "priority", "-prefix", p.String(), "-json")
	require.Equal(t, exitPass, r.code, "%v", r)
	var rep struct {
		Scenario string
		Passed   bool
		Checks   []struct {
			Property string
			Passed   bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Equal(t, "priority", rep.Scenario)
	assert.True(t, rep.Passed)
	assert.Len(t, rep.Checks, 3)
}

func TestLiveWithoutLiveMode(t *testing.T) {
	oneLine(t, cli("live", "counter-race"), "live: scenario counter-race has no live mode", "live modes: discovery, gossip-smoke, gossip-swarm, pickfirst, priority")
	oneLine(t, cli("live", "no-such-scenario"), `unknown scenario "no-such-scenario"`)
	oneLine(t, cli("live"), "live: missing SCENARIO")
}

func TestLiveBadFlags(t *testing.T) {
	oneLine(t, cli("live", "pickfirst", "-nodes", "3"), "live pickfirst: -nodes 3: this workload always runs 2 nodes")
	oneLine(t, cli("live", "discovery", "-nodes", "1"), "live discovery: -nodes 1 out of range 2-200")
	oneLine(t, cli("live", "discovery", "-duration", "1s"), "-duration 1s is shorter than the workload's minimum 2s")
	oneLine(t, cli("live", "discovery", "-prefix", "10.0.0.0/24"), "10.0.0.0/24 is not inside the loopback range 127.0.0.0/8")
	oneLine(t, cli("live", "discovery", "-prefix", "bogus"), `-prefix "bogus"`)
	oneLine(t, cli("live", "priority", "-variant", "racy"), `live priority: variant "racy" has no live mode (variants: fixed, buggy)`)
	oneLine(t, cli("live", "discovery", "-variant", "buggy"), `live discovery: variant "buggy" has no live mode (variants: fixed)`)
	r := cli("live", "-h")
	assert.Equal(t, exitPass, r.code)
	assert.Regexp(t, `(?m)^  discovery +5 nodes \(2-200\) +10s +discovery-liveness, progress, no-resurrection, stability, expiry$`, r.stderr)
	assert.Regexp(t, `(?m)^  priority +3 nodes +30s +rpcs-succeed, failover-within-timer, switched-back$`, r.stderr)
	assert.Contains(t, cli("-h").stderr, "live ")
}

// TestLivePortInUse: a port a node needs is taken by another process:
// the run stops with a one-line reason naming the address.
func TestLivePortInUse(t *testing.T) {
	p := livePrefix(2)
	p0 := netip.AddrPortFrom(liveHost(p, 2), 50051).String() // p0's port
	ln, err := net.Listen("tcp4", p0)
	require.NoError(t, err)
	defer ln.Close()
	oneLine(t, cli("live", "priority", "-prefix", p.String()), "listen tcp4 "+p0, "address already in use")

	d0 := netip.AddrPortFrom(liveHost(p, 1), 5678).String() // d0's presence port
	pc, err := net.ListenPacket("udp4", d0)
	require.NoError(t, err)
	defer pc.Close()
	oneLine(t, cli("live", "discovery", "-prefix", p.String(), "-duration", "2s"), "node d0: listen: listen udp4 "+d0, "address already in use")
}

func TestLiveNoLoopbackAddress(t *testing.T) {
	// More nodes than the prefix has addresses.
	small := netip.PrefixFrom(livePrefix(3).Addr(), 30)
	oneLine(t, cli("live", "discovery", "-prefix", small.String()),
		"live discovery: no loopback address available: 5 nodes need 5 addresses, -prefix "+small.String()+" has 2")

	// No working loopback at all: a new network namespace, where lo is
	// down (binding 127.x still works there, sending does not). Needs
	// unprivileged user namespaces; skipped where they are not allowed.
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare command")
	}
	if err := exec.Command("unshare", "-rn", "true").Run(); err != nil {
		t.Skipf("unshare -rn is not permitted here: %v", err)
	}
	cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run=^TestLiveHelperProcess$", "--", "live", "priority", "-prefix", livePrefix(4).String())
	cmd.Env = append(os.Environ(), "SIMRUN_LIVE_HELPER=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v\n%s%s", err, stdout.String(), stderr.String())
	oneLine(t, result{ee.ExitCode(), stdout.String(), stderr.String()},
		`osnet: no loopback address available for node "client": `+liveHost(livePrefix(4), 1).String()+` does not work on loopback`, "network is unreachable")
}

// TestLiveHelperProcess runs simrun with the arguments after "--" when the
// test binary is re-executed by TestLiveNoLoopbackAddress, and exits with
// its status.
func TestLiveHelperProcess(t *testing.T) {
	if os.Getenv("SIMRUN_LIVE_HELPER") != "1" {
		t.Skip("a helper, run by TestLiveNoLoopbackAddress")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}
