package netmodel_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall" //detsim:allow errno values only, to compare errors as on the OS network
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Property tests of the network model. Each draws a small scenario from
// rapid (sizes, link, fault choices and a seed) and lets the simulation's
// PRNG do the rest; tasks inside the simulation never call t.Fatal (that
// would be runtime.Goexit in a task): they record what they saw, and the
// checks run after World.Run returns.
//
// Rapid's seed is fixed (see init) so the file is deterministic; pass
// -rapid.seed=0 to explore, -rapid.checks=N to change every test's count.

func init() {
	if _, ok := os.LookupEnv("RAPID_SEED"); !ok {
		if f := flag.Lookup("rapid.seed"); f != nil {
			_ = f.Value.Set("20250607")
		}
	}
	// No fail files under testdata: the failing draws are in the test
	// output, and the fixed seed reproduces them.
	if f := flag.Lookup("rapid.nofailfile"); f != nil {
		_ = f.Value.Set("true")
	}
}

// checksFromUser is whether -rapid.checks or RAPID_CHECKS was given; nil
// until the first property runs (flags are parsed by then).
var checksFromUser *bool

// propCheck is rapid.Check with a per-test number of checks, unless the
// user chose one.
func propCheck(t *testing.T, checks int, prop func(*rapid.T)) {
	t.Helper()
	if checksFromUser == nil {
		_, set := os.LookupEnv("RAPID_CHECKS")
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
		checksFromUser = &set
	}
	if f := flag.Lookup("rapid.checks"); f != nil && !*checksFromUser {
		old := f.Value.String()
		require.NoError(t, f.Value.Set(strconv.Itoa(checks)))
		defer func() { _ = f.Value.Set(old) }()
	}
	rapid.Check(t, prop)
}

// ---------------------------------------------------------------------------
// Scenario helpers.

const udpPort = 5000

func propName(i int) string { return "h" + strconv.Itoa(i) }

func propIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}) }

func propUDP(i, port int) *net.UDPAddr {
	return &net.UDPAddr{IP: propIP(i).AsSlice(), Port: port}
}

// propNet is hosts h0, h1, ... (10.0.0.1, 10.0.0.2, ...) on segment "lan"
// (10.0.0.0/24).
type propNet struct {
	w     *sim.World
	n     *netmodel.Network
	hosts []*netmodel.Host
	names []string
}

func newPropNet(t require.TestingT, wopts sim.Options, nopts netmodel.Options, link netmodel.Link, nh int, start func(i int) func(netmodel.Env)) *propNet {
	w, err := sim.New(wopts)
	require.NoError(t, err)
	n, err := netmodel.New(w, nopts)
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), link))
	p := &propNet{w: w, n: n}
	for i := 0; i < nh; i++ {
		var fn func(netmodel.Env)
		if start != nil {
			fn = start(i)
		}
		h, err := n.AddHost(propName(i), fn, netmodel.Iface{Segment: "lan", Addr: propIP(i)})
		require.NoError(t, err)
		p.hosts = append(p.hosts, h)
		p.names = append(p.names, h.Name())
	}
	return p
}

// drawLatency draws a latency distribution of any kind, capped at capAt (so
// every sample, whatever the tail, is at most capAt).
func drawLatency(t *rapid.T, label string, capAt time.Duration) netmodel.Dist {
	us := func(name string, lo, hi int) time.Duration {
		return time.Duration(rapid.IntRange(lo, hi).Draw(t, label+"."+name)) * time.Microsecond
	}
	var d netmodel.Dist
	switch rapid.IntRange(0, 4).Draw(t, label+".kind") {
	case 0:
		d = netmodel.Constant(us("d", 0, 20000))
	case 1:
		lo := us("lo", 0, 10000)
		d = netmodel.Uniform(lo, lo+us("span", 0, 20000))
	case 2:
		d = netmodel.Normal(us("mean", 0, 20000), us("stddev", 0, 10000))
	case 3:
		d = netmodel.LogNormal(us("median", 1, 20000), float64(rapid.IntRange(0, 20).Draw(t, label+".sigma10"))/10)
	case 4:
		d = netmodel.Pareto(us("min", 1, 10000), rapid.SampledFrom([]float64{0.5, 1, 1.5, 2, 3}).Draw(t, label+".alpha"))
	}
	return d.Capped(capAt)
}

func drawProb(t *rapid.T, label string, maxPct int) float64 {
	return float64(rapid.IntRange(0, maxPct).Draw(t, label)) / 100
}

// drawFaultyLink draws a datagram link with latency, loss, duplication and
// reordering, and returns it with the longest a datagram can be in flight.
func drawFaultyLink(t *rapid.T, latCap, reorderCap time.Duration, maxLoss, maxDup, maxReorder int) (netmodel.Link, time.Duration) {
	l := netmodel.Link{
		Latency:   drawLatency(t, "latency", latCap),
		Loss:      drawProb(t, "loss", maxLoss),
		Duplicate: drawProb(t, "dup", maxDup),
		Reorder:   drawProb(t, "reorder", maxReorder),
	}
	l.ReorderDelay = drawLatency(t, "reorder_delay", reorderCap)
	return l, latCap + reorderCap
}

// setFaults gives every link between distinct hosts l's loss, duplication
// and reordering. Scenarios build their network without them and call this
// once their streams are set up, so no dial fails (a dial that loses SYNs
// for longer than its timeout is correct behaviour, but not the property).
func (p *propNet) setFaults(l netmodel.Link) error {
	for _, a := range p.names {
		for _, b := range p.names {
			if a != b {
				if err := p.n.SetLinkFaults(a, b, l.Loss, l.Duplicate, l.Reorder); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func randBytes(r *sim.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint64())
	}
	return b
}

// datagram payloads: sender, seq and send time (virtual ns).
func encodeDatagram(sender, seq int, at time.Duration) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint16(b[0:], uint16(sender))
	binary.BigEndian.PutUint32(b[2:], uint32(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(at))
	return b
}

func decodeDatagram(b []byte) (sender, seq int, at time.Duration, ok bool) {
	if len(b) != 16 {
		return 0, 0, 0, false
	}
	return int(binary.BigEndian.Uint16(b[0:])), int(binary.BigEndian.Uint32(b[2:])), time.Duration(binary.BigEndian.Uint64(b[8:])), true
}

// ---------------------------------------------------------------------------
// Cuts: random partitions, one-way cuts, isolations and heals, mirrored in
// a log of versions of the directed cut matrix.

type cutOp struct {
	kind     int // 0 partition, 1 one-way, 2 isolate, 3 heal
	groups   [][]int
	from, to []int
	host     int
}

func drawCutOp(r *sim.Rand, nh int) cutOp {
	switch r.Intn(4) {
	case 0:
		ng := 2 + r.Intn(2)
		groups := make([][]int, ng)
		for h := 0; h < nh; h++ {
			if r.Intn(5) == 0 {
				continue // in no group: reaches everyone
			}
			g := r.Intn(ng)
			groups[g] = append(groups[g], h)
		}
		var op cutOp
		for _, g := range groups {
			if len(g) > 0 {
				op.groups = append(op.groups, g)
			}
		}
		if len(op.groups) >= 2 {
			return op
		}
		return cutOp{kind: 2, host: r.Intn(nh)}
	case 1:
		op := cutOp{kind: 1}
		for h := 0; h < nh; h++ {
			switch r.Intn(3) {
			case 0:
				op.from = append(op.from, h)
			case 1:
				op.to = append(op.to, h)
			}
		}
		if len(op.from) == 0 {
			op.from = []int{r.Intn(nh)}
		}
		if len(op.to) == 0 {
			op.to = []int{r.Intn(nh)}
		}
		return op
	case 2:
		return cutOp{kind: 2, host: r.Intn(nh)}
	}
	return cutOp{kind: 3}
}

func namesOf(names []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, h := range idx {
		out[i] = names[h]
	}
	return out
}

func (op cutOp) apply(n *netmodel.Network, names []string) error {
	switch op.kind {
	case 0:
		groups := make([][]string, len(op.groups))
		for i, g := range op.groups {
			groups[i] = namesOf(names, g)
		}
		return n.Partition(groups...)
	case 1:
		return n.PartitionOneWay(namesOf(names, op.from), namesOf(names, op.to))
	case 2:
		return n.Isolate(names[op.host])
	}
	n.Heal()
	return nil
}

// mirror applies the documented semantics of op to the cut matrix m
// (m[from*nh+to] is true when from cannot reach to).
func (op cutOp) mirror(m []bool, nh int) {
	set := func(a, b int) {
		if a != b {
			m[a*nh+b] = true
		}
	}
	switch op.kind {
	case 0:
		for i, gi := range op.groups {
			for j, gj := range op.groups {
				if i == j {
					continue
				}
				for _, a := range gi {
					for _, b := range gj {
						set(a, b)
					}
				}
			}
		}
	case 1:
		for _, a := range op.from {
			for _, b := range op.to {
				set(a, b)
			}
		}
	case 2:
		for o := 0; o < nh; o++ {
			set(op.host, o)
			set(o, op.host)
		}
	case 3:
		clear(m)
	}
}

// cutLog is the history of the cut state: version v came into force at
// at[v].
type cutLog struct {
	nh  int
	at  []time.Duration
	cut [][]bool
}

func newCutLog(nh int) *cutLog {
	return &cutLog{nh: nh, at: []time.Duration{0}, cut: [][]bool{make([]bool, nh*nh)}}
}

func (c *cutLog) version() int { return len(c.at) - 1 }

// do applies op to the network and records the new version, with no
// scheduling point in between: the recorded version is exactly the
// network's state.
func (c *cutLog) do(w *sim.World, n *netmodel.Network, names []string, op cutOp) error {
	if err := op.apply(n, names); err != nil {
		return err
	}
	m := slices.Clone(c.cut[len(c.cut)-1])
	op.mirror(m, c.nh)
	c.at = append(c.at, w.Elapsed())
	c.cut = append(c.cut, m)
	return nil
}

func (c *cutLog) connected(v, from, to int) bool { return !c.cut[v][from*c.nh+to] }

// inForce lists the versions that may have been in force at the instant at,
// for an event at that instant that was observed when vmax was current:
// vmax, and the earlier versions replaced at that same instant (at one
// virtual instant, events and tasks interleave in an order the observer
// cannot see).
func (c *cutLog) inForce(at time.Duration, vmax int) []int {
	out := []int{vmax}
	for v := vmax - 1; v >= 0 && c.at[v+1] >= at; v-- {
		out = append(out, v)
	}
	return out
}

func (c *cutLog) connectedSome(vs []int, from, to int) bool {
	for _, v := range vs {
		if c.connected(v, from, to) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// 1. Nothing crosses a partition.

type sentDatagram struct {
	dst int
	at  time.Duration
	ver int // cut version right after WriteTo returned: exactly the one it was sent under
}

type recvDatagram struct {
	to   int
	from string
	data []byte
	at   time.Duration
	ver  int
}

type streamRead struct {
	at  time.Duration
	n   int
	ver int
}

type streamRun struct {
	wi, ri  int
	chunks  [][]byte
	gaps    []time.Duration
	bufSize int

	sent  []byte
	got   []byte
	reads []streamRead
	end   error
}

// TestPropNothingCrossesAPartition: with random partitions, one-way cuts,
// isolations and heals at random times over a link with any latency kind,
// loss, duplication and reordering, every datagram received was sent while
// its (sender, receiver) pair was connected, and the pair was connected at
// its receipt (the model checks at send and at arrival); so nothing arrives
// from a pair cut over its whole flight. On streams between random pairs,
// no byte is delivered while the writer->reader direction is cut, and once
// healed every byte arrives, in order, then EOF.
func TestPropNothingCrossesAPartition(t *testing.T) {
	propCheck(t, 200, func(t *rapid.T) {
		nh := rapid.IntRange(3, 6).Draw(t, "hosts")
		seed := rapid.Uint64().Draw(t, "seed")
		link, maxFlight := drawFaultyLink(t, 20*time.Millisecond, 200*time.Millisecond, 30, 30, 50)
		nCuts := rapid.IntRange(1, 30).Draw(t, "cuts")
		maxCutGap := rapid.IntRange(1, 800).Draw(t, "max_cut_gap_ms")
		nSends := rapid.IntRange(5, 40).Draw(t, "sends_per_host")
		nStreams := rapid.IntRange(0, 3).Draw(t, "streams")

		p := newPropNet(t, sim.Options{Seed: seed, CheckLeaks: true},
			netmodel.Options{UserTimeout: time.Hour, MinRTO: 20 * time.Millisecond, MaxRTO: 500 * time.Millisecond},
			netmodel.Link{Latency: link.Latency, ReorderDelay: link.ReorderDelay}, nh, nil)
		w, r := p.w, sim.NewRand(seed)
		cl := newCutLog(nh)
		sends := make([][]sentDatagram, nh)
		var recvs []recvDatagram
		var errs []string
		streams := make([]*streamRun, nStreams)
		for s := range streams {
			st := &streamRun{wi: r.Intn(nh), bufSize: 1 + r.Intn(64)}
			st.ri = (st.wi + 1 + r.Intn(nh-1)) % nh
			for k := 10 + r.Intn(50); k > 0; k-- {
				st.chunks = append(st.chunks, randBytes(r, 1+r.Intn(300)))
				st.gaps = append(st.gaps, time.Duration(r.Intn(150))*time.Millisecond)
			}
			streams[s] = st
		}

		res, err := w.Run(func() {
			wg := w.NewWaitGroup()
			socks := make([]net.PacketConn, nh)
			for i := range nh {
				pc, err := p.hosts[i].Env().Net().ListenPacket("udp", ":"+strconv.Itoa(udpPort))
				if err != nil {
					errs = append(errs, fmt.Sprintf("listen on %s: %v", p.names[i], err))
					return
				}
				socks[i] = pc
				p.hosts[i].Env().Go("udp-reader", func() {
					buf := make([]byte, 64)
					for {
						k, from, err := pc.ReadFrom(buf)
						if err != nil {
							return
						}
						recvs = append(recvs, recvDatagram{to: i, from: from.String(), data: slices.Clone(buf[:k]), at: w.Elapsed(), ver: cl.version()})
					}
				})
			}
			// Streams are set up before any cut.
			for s, st := range streams {
				wenv, renv := p.hosts[st.wi].Env(), p.hosts[st.ri].Env()
				port := strconv.Itoa(6000 + s)
				ln, err := renv.Net().Listen("tcp", ":"+port)
				if err != nil {
					errs = append(errs, fmt.Sprintf("stream %d: listen: %v", s, err))
					return
				}
				accepted := sim.NewChan[net.Conn](w, 1)
				renv.Go("acceptor", func() {
					c, err := ln.Accept()
					if err != nil {
						errs = append(errs, fmt.Sprintf("stream %d: accept: %v", s, err))
					}
					accepted.Send(c)
					ln.Close()
				})
				cw, err := wenv.Net().Dial("tcp", p.names[st.ri]+":"+port)
				if err != nil {
					errs = append(errs, fmt.Sprintf("stream %d: dial: %v", s, err))
					return
				}
				cr := accepted.Recv()
				if cr == nil {
					return
				}
				wg.Add(2)
				wenv.Go("stream-writer", func() {
					defer wg.Done()
					defer cw.Close()
					for k, chunk := range st.chunks {
						w.Sleep(st.gaps[k])
						n, err := cw.Write(chunk)
						st.sent = append(st.sent, chunk[:n]...)
						if err != nil {
							errs = append(errs, fmt.Sprintf("stream %d: write: %v", s, err))
							return
						}
					}
				})
				renv.Go("stream-reader", func() {
					defer wg.Done()
					defer cr.Close()
					buf := make([]byte, st.bufSize)
					for {
						k, err := cr.Read(buf)
						if k > 0 {
							st.got = append(st.got, buf[:k]...)
							st.reads = append(st.reads, streamRead{at: w.Elapsed(), n: k, ver: cl.version()})
						}
						if err != nil {
							st.end = err
							return
						}
					}
				})
			}
			if err := p.setFaults(link); err != nil {
				errs = append(errs, err.Error())
				return
			}

			wg.Add(1)
			w.Go("cuts", func() {
				defer wg.Done()
				for range nCuts {
					w.Sleep(time.Duration(r.Intn(maxCutGap)) * time.Millisecond)
					if err := cl.do(w, p.n, p.names, drawCutOp(r, nh)); err != nil {
						errs = append(errs, err.Error())
					}
				}
				w.Sleep(time.Duration(r.Intn(800)) * time.Millisecond)
				_ = cl.do(w, p.n, p.names, cutOp{kind: 3})
			})
			for i := range nh {
				wg.Add(1)
				rs := w.Rand("sender/" + p.names[i])
				p.hosts[i].Env().Go("udp-sender", func() {
					defer wg.Done()
					for seq := range nSends {
						w.Sleep(time.Duration(rs.Intn(400)) * time.Millisecond)
						dst := (i + 1 + rs.Intn(nh-1)) % nh
						at := w.Elapsed() // WriteTo's scheduling point does not advance the clock
						if _, err := socks[i].WriteTo(encodeDatagram(i, seq, at), propUDP(dst, udpPort)); err != nil {
							errs = append(errs, fmt.Sprintf("%s: WriteTo: %v", p.names[i], err))
						}
						sends[i] = append(sends[i], sentDatagram{dst: dst, at: at, ver: cl.version()})
					}
				})
			}
			wg.Wait()
			w.Sleep(maxFlight + time.Millisecond) // every datagram has landed
			for _, pc := range socks {
				pc.Close()
			}
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "run failed: %v", res.Failure)
		require.Empty(t, errs)

		for _, rd := range recvs {
			s, seq, at, ok := decodeDatagram(rd.data)
			require.True(t, ok, "malformed datagram %x", rd.data)
			require.Less(t, s, nh)
			require.Less(t, seq, len(sends[s]), "datagram %d/%d was never sent", s, seq)
			sd := sends[s][seq]
			require.Equal(t, sd.at, at)
			require.Equal(t, sd.dst, rd.to, "datagram %d/%d sent to %d arrived at %d", s, seq, sd.dst, rd.to)
			require.Equal(t, propUDP(s, udpPort).String(), rd.from)
			require.GreaterOrEqual(t, rd.at, sd.at)
			require.LessOrEqual(t, rd.at-sd.at, maxFlight, "datagram %d/%d in flight too long", s, seq)
			require.True(t, cl.connected(sd.ver, s, rd.to),
				"datagram %d/%d %s->%s sent at %v while cut (version %d) was received at %v",
				s, seq, p.names[s], p.names[rd.to], sd.at, sd.ver, rd.at)
			require.True(t, cl.connectedSome(cl.inForce(rd.at, rd.ver), s, rd.to),
				"datagram %d/%d %s->%s sent at %v was received at %v while cut (versions %v)",
				s, seq, p.names[s], p.names[rd.to], sd.at, rd.at, cl.inForce(rd.at, rd.ver))
		}
		for s, st := range streams {
			for _, rd := range st.reads {
				require.True(t, cl.connectedSome(cl.inForce(rd.at, rd.ver), st.wi, st.ri),
					"stream %d %s->%s: %d bytes delivered at %v while cut (versions %v)",
					s, p.names[st.wi], p.names[st.ri], rd.n, rd.at, cl.inForce(rd.at, rd.ver))
			}
			require.Equal(t, st.sent, st.got, "stream %d: bytes in order, exactly once", s)
			require.Equal(t, io.EOF, st.end, "stream %d ends with EOF", s)
		}
	})
}

// ---------------------------------------------------------------------------
// 2. Stream bytes arrive in order and exactly once.

// TestPropStreamInOrderExactlyOnce: whatever the latency distribution, loss
// (a delay on streams), send buffer and write and read sizes, the reader
// reads exactly the bytes written, in order, then io.EOF (again on every
// later Read) after the writer's Close. Mode "short": partitions of any
// kind (both ways, isolating either side, one-way either way), made by the
// writer just before some of its writes (so bytes wait to cross them),
// each at most UserTimeout/2 and starting at least UserTimeout after the
// last heal, change nothing.
// Mode "long": a partition longer than UserTimeout, made by the writer
// between two of its writes (so it has bytes to send while cut), breaks
// the connection: the writer's Write or its next Read fails with an error
// wrapping syscall.ETIMEDOUT, within UserTimeout of its first
// undeliverable segment, and what the reader got is a prefix of what was
// written (the reader, with nothing to send, learns nothing, as on a real
// TCP without keepalives). As on a real TCP, this holds for a one-way cut
// of either direction: cutting only reader->writer leaves the data
// unacknowledged.
//
// MaxRTO is UserTimeout/20 so that once healed a stream has at least ten
// retransmissions left before its user timeout, whatever the loss.
func TestPropStreamInOrderExactlyOnce(t *testing.T) {
	propCheck(t, 200, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		latCap := 50 * time.Millisecond
		lat := drawLatency(t, "latency", latCap)
		loss := drawProb(t, "loss", 30)
		ut := rapid.SampledFrom([]time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second}).Draw(t, "user_timeout")
		sendBuf := rapid.SampledFrom([]int{16, 100, 1000, 64 << 10}).Draw(t, "send_buffer")
		nWrites := rapid.IntRange(1, 40).Draw(t, "writes")
		maxWrite := rapid.IntRange(1, 3000).Draw(t, "max_write")
		maxRead := rapid.IntRange(1, 3000).Draw(t, "max_read")
		maxGap := time.Duration(rapid.IntRange(0, 200).Draw(t, "max_gap_ms")) * time.Millisecond
		mode := rapid.SampledFrom([]string{"none", "short", "long"}).Draw(t, "mode")
		// 0 both ways, 1 isolate writer, 2 isolate reader, 3 one-way
		// writer->reader, 4 one-way reader->writer.
		cutKind := rapid.IntRange(0, 4).Draw(t, "cut_kind")
		shortBefore := make([]bool, nWrites) // short cuts: before these writes
		for range rapid.IntRange(1, 3).Draw(t, "short_cuts") {
			shortBefore[rapid.IntRange(0, nWrites-1).Draw(t, "short_cut_before_write")] = true
		}
		cutBefore := rapid.IntRange(0, nWrites-1).Draw(t, "long_cut_before_write")

		maxRTO := ut / 20
		p := newPropNet(t, sim.Options{Seed: seed, CheckLeaks: true},
			netmodel.Options{UserTimeout: ut, MinRTO: 10 * time.Millisecond, MaxRTO: maxRTO, SendBuffer: sendBuf},
			netmodel.Link{Latency: lat}, 2, nil)
		w, r := p.w, sim.NewRand(seed)
		a, b := p.hosts[0], p.hosts[1]
		var writes [][]byte
		var gaps []time.Duration
		for range nWrites {
			writes = append(writes, randBytes(r, 1+r.Intn(maxWrite)))
			gaps = append(gaps, time.Duration(r.Int63n(int64(maxGap)+1)))
		}
		cut := func() {
			switch cutKind {
			case 0:
				_ = p.n.Partition([]string{"h0"}, []string{"h1"})
			case 1:
				_ = p.n.Isolate("h0")
			case 2:
				_ = p.n.Isolate("h1")
			case 3:
				_ = p.n.PartitionOneWay([]string{"h0"}, []string{"h1"})
			case 4:
				_ = p.n.PartitionOneWay([]string{"h1"}, []string{"h0"})
			}
		}

		var (
			setupErr      error
			sent, got     []byte
			readEnd       error
			eofAgain      error
			writerErr     error
			writerErrAt   time.Duration
			cutAt, healAt time.Duration
		)
		res, err := w.Run(func() {
			ln, err := b.Env().Net().Listen("tcp", ":80")
			if err != nil {
				setupErr = err
				return
			}
			accepted := sim.NewChan[net.Conn](w, 1)
			b.Env().Go("acceptor", func() {
				c, _ := ln.Accept()
				accepted.Send(c)
				ln.Close()
			})
			cw, err := a.Env().Net().Dial("tcp", "h1:80")
			if err != nil {
				setupErr = err
				return
			}
			cr := accepted.Recv()
			if setupErr = p.setFaults(netmodel.Link{Loss: loss}); setupErr != nil {
				return
			}

			done := sim.NewChan[string](w, 2)
			b.Env().Go("reader", func() {
				defer func() { done.Send("reader") }()
				for {
					buf := make([]byte, 1+r.Intn(maxRead))
					k, err := cr.Read(buf)
					got = append(got, buf[:k]...)
					if err != nil {
						readEnd = err
						if err == io.EOF {
							_, eofAgain = cr.Read(make([]byte, 1))
						}
						return
					}
				}
			})
			a.Env().Go("writer", func() {
				defer func() { done.Send("writer") }()
				fail := func(err error) { writerErr, writerErrAt = err, w.Elapsed() }
				for k, chunk := range writes {
					switch {
					case mode == "short" && shortBefore[k]:
						// At least UserTimeout after the last heal, a cut
						// of at most UserTimeout/2, with bytes to send.
						w.Sleep(max(healAt+ut-w.Elapsed(), 0))
						cut()
						healAt = w.Elapsed() + time.Duration(1+r.Int63n(int64(ut/2)))
						w.AfterFunc(healAt-w.Elapsed(), p.n.Heal)
					case mode == "long" && k == cutBefore:
						cut()
						cutAt = w.Elapsed()
						healAt = cutAt + ut + ut/2 + time.Duration(r.Int63n(int64(ut)))
						w.AfterFunc(healAt-cutAt, p.n.Heal)
					}
					w.Sleep(gaps[k])
					n, err := cw.Write(chunk)
					sent = append(sent, chunk[:n]...)
					if err != nil {
						fail(err)
						return
					}
				}
				if mode != "long" {
					if err := cw.Close(); err != nil {
						fail(err)
					}
					return
				}
				// Wait for an answer that never comes: the user timeout
				// ends the wait (the deadline is a fallback, well after).
				cw.SetReadDeadline(a.Env().Now().Add(healAt - w.Elapsed() + ut))
				_, err := cw.Read(make([]byte, 1))
				fail(err)
			})
			switch mode {
			case "none", "short":
				done.Recv()
				done.Recv()
				w.Sleep(max(healAt-w.Elapsed(), 0)) // the last heal has fired
			case "long":
				done.Recv() // the writer: the reader waits for more
				// After the heal and a few retransmission periods nothing
				// more can arrive.
				w.Sleep(max(healAt-w.Elapsed(), 0) + 2*maxRTO + 2*latCap)
				cr.Close()
				done.Recv()
				cw.Close()
				return
			}
			cr.Close()
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "run failed: %v", res.Failure)
		require.NoError(t, setupErr)

		if mode != "long" {
			require.NoError(t, writerErr)
			require.Equal(t, sent, got, "the reader reads what was written, in order, exactly once")
			require.Equal(t, io.EOF, readEnd, "then io.EOF")
			require.Equal(t, io.EOF, eofAgain, "and io.EOF again")
			return
		}
		require.ErrorIs(t, writerErr, syscall.ETIMEDOUT,
			"a partition (kind %d) from %v to %v, longer than UserTimeout %v: the writer's connection times out", cutKind, cutAt, healAt, ut)
		// The first undeliverable segment is one in flight at the cut or
		// the next write: the timeout follows within UserTimeout of that.
		require.GreaterOrEqual(t, writerErrAt, cutAt)
		require.LessOrEqual(t, writerErrAt, cutAt+maxGap+latCap+ut+time.Millisecond, "TCP_USER_TIMEOUT fires on time")
		require.True(t, len(got) <= len(sent) && slices.Equal(got, sent[:len(got)]),
			"the reader got %d bytes, not a prefix of the %d written", len(got), len(sent))
		require.ErrorIs(t, readEnd, net.ErrClosed, "the reader learns nothing until it closes")
	})
}

// ---------------------------------------------------------------------------
// 3. Duplicates, and 6. conservation: a shared datagram scenario.

type udpScenario struct {
	nh       int
	seed     uint64
	link     netmodel.Link
	opts     netmodel.Options
	sends    int           // send rounds per host
	burst    int           // datagrams per round, at most
	maxGap   time.Duration // between rounds
	cuts     int           // random cut operations
	extras   bool          // also broadcast, unbound ports, addresses nobody has
	crash    bool          // crash a host and restart it
	flightUB time.Duration // longest flight
}

type udpOutcome struct {
	res      sim.Result
	sent     [][]int   // [from][to]: datagrams handed to link from->to
	recvd    [][]int   // [from][to]: datagrams read
	copies   [][][]int // [sender][seq][receiver]: times received
	crashed  bool
	stats    []netmodel.LinkStats
	totals   netmodel.LinkStats
	sockErrs []string
}

// runUDP runs the scenario: every host reads port 5000 (bound by its start
// function, so again after a restart); a sender task per host sends rounds
// of datagrams.
func runUDP(t require.TestingT, sc udpScenario) *udpOutcome {
	nh := sc.nh
	out := &udpOutcome{sent: make([][]int, nh), recvd: make([][]int, nh), copies: make([][][]int, nh)}
	for i := range nh {
		out.sent[i] = make([]int, nh)
		out.recvd[i] = make([]int, nh)
	}
	socks := make([]net.PacketConn, nh)
	var p *propNet
	start := func(i int) func(netmodel.Env) {
		return func(env netmodel.Env) {
			pc, err := env.Net().ListenPacket("udp", ":"+strconv.Itoa(udpPort))
			if err != nil {
				out.sockErrs = append(out.sockErrs, err.Error())
				return
			}
			socks[i] = pc
			buf := make([]byte, 64)
			for {
				k, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				s, seq, _, ok := decodeDatagram(buf[:k])
				if !ok || s >= nh || seq >= len(out.copies[s]) {
					out.sockErrs = append(out.sockErrs, fmt.Sprintf("unexpected datagram %x", buf[:k]))
					continue
				}
				out.recvd[s][i]++
				out.copies[s][seq][i]++
			}
		}
	}
	p = newPropNet(t, sim.Options{Seed: sc.seed, CheckLeaks: true}, sc.opts, sc.link, nh, start)
	w, r := p.w, sim.NewRand(sc.seed)
	for i := range nh {
		out.copies[i] = make([][]int, sc.sends*sc.burst)
		for j := range out.copies[i] {
			out.copies[i][j] = make([]int, nh)
		}
	}
	bcast := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 255), Port: udpPort}
	nobody := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 200), Port: udpPort}

	res, err := w.Run(func() {
		w.Sleep(time.Millisecond) // the start functions bind their sockets
		wg := w.NewWaitGroup()
		cl := newCutLog(nh)
		if sc.cuts > 0 || sc.crash {
			wg.Add(1)
			w.Go("faults", func() {
				defer wg.Done()
				crashAt := -1
				if sc.crash {
					crashAt = r.Intn(sc.cuts + 1)
				}
				for k := 0; k <= sc.cuts; k++ {
					w.Sleep(time.Duration(r.Intn(500)) * time.Millisecond)
					if k == crashAt {
						h := p.names[r.Intn(nh)]
						_ = p.n.Crash(h)
						out.crashed = true
						w.Sleep(time.Duration(r.Intn(1000)) * time.Millisecond)
						_ = p.n.Restart(h)
					}
					if k < sc.cuts {
						_ = cl.do(w, p.n, p.names, drawCutOp(r, nh))
					}
				}
				p.n.Heal()
			})
		}
		for i := range nh {
			wg.Add(1)
			rs := w.Rand("sender/" + p.names[i])
			p.hosts[i].Env().Go("sender", func() {
				defer wg.Done()
				seq := 0
				for range sc.sends {
					w.Sleep(time.Duration(rs.Int63n(int64(sc.maxGap) + 1)))
					// Unicast to anyone (itself too: loopback), or maybe
					// broadcast, an unbound port, or nobody.
					var to *net.UDPAddr
					dst, kind := rs.Intn(nh), 0
					if sc.extras {
						kind = rs.Intn(10)
					}
					switch kind {
					case 7:
						to = bcast
					case 8:
						to = propUDP(dst, udpPort+1)
					case 9:
						to = nobody
					default:
						to = propUDP(dst, udpPort)
					}
					for range 1 + rs.Intn(sc.burst) {
						pc := socks[i]
						if pc == nil {
							return
						}
						if _, err := pc.WriteTo(encodeDatagram(i, seq, w.Elapsed()), to); err != nil {
							return // the socket closed: this host crashed
						}
						seq++
						switch to {
						case bcast:
							for j := range nh {
								out.sent[i][j]++
							}
						case nobody:
						default:
							out.sent[i][dst]++
						}
					}
				}
			})
		}
		wg.Wait()
		w.Sleep(sc.flightUB + time.Millisecond) // nothing left in flight
		for _, pc := range socks {
			if pc != nil {
				pc.Close()
			}
		}
	})
	require.NoError(t, err)
	out.res = res
	out.stats = p.n.Stats()
	out.totals = p.n.Totals()
	return out
}

// TestPropDuplicatesOnlyWithDuplication: with Duplicate = 0 (and any loss,
// reordering, latency and cuts) no datagram is received twice by a host
// and no link counts a duplicate. With Duplicate >= 0.5 over at least 40
// datagrams some datagram is received twice (all but certain: the chance
// of none is below 0.65^40 < 1e-7, and the run is deterministic), none is
// received more than twice, and with no cuts every duplicate counted is
// received twice.
func TestPropDuplicatesOnlyWithDuplication(t *testing.T) {
	propCheck(t, 200, func(t *rapid.T) {
		dup := rapid.Bool().Draw(t, "duplication")
		sc := udpScenario{
			nh:     rapid.IntRange(2, 4).Draw(t, "hosts"),
			seed:   rapid.Uint64().Draw(t, "seed"),
			sends:  rapid.IntRange(40, 80).Draw(t, "sends"),
			burst:  rapid.IntRange(1, 3).Draw(t, "burst"),
			maxGap: time.Duration(rapid.IntRange(0, 100).Draw(t, "max_gap_ms")) * time.Millisecond,
			cuts:   rapid.IntRange(0, 4).Draw(t, "cuts"),
		}
		sc.link, sc.flightUB = drawFaultyLink(t, 20*time.Millisecond, 30*time.Millisecond, 30, 0, 50)
		if dup {
			sc.link.Duplicate = float64(rapid.IntRange(50, 100).Draw(t, "dup%")) / 100
		}
		out := runUDP(t, sc)
		require.Nil(t, out.res.Failure, "run failed: %v", out.res.Failure)
		require.Empty(t, out.sockErrs)

		twice, most := 0, 0
		for s := range out.copies {
			for seq := range out.copies[s] {
				for _, c := range out.copies[s][seq] {
					most = max(most, c)
					if c == 2 {
						twice++
					}
				}
			}
		}
		if !dup {
			require.LessOrEqual(t, most, 1, "a datagram was received twice without duplication")
			require.Zero(t, out.totals.Duplicated)
			return
		}
		require.LessOrEqual(t, most, 2, "a datagram is delivered at most twice")
		require.Positive(t, twice, "Duplicate=%v over %d rounds: some datagram is received twice", sc.link.Duplicate, sc.sends)
		require.LessOrEqual(t, uint64(twice), out.totals.Duplicated)
		if sc.cuts == 0 {
			require.Equal(t, out.totals.Duplicated, uint64(twice), "every duplicate made is received twice")
		}
	})
}

// TestPropDatagramConservation: on every link, every datagram handed to it
// (Sent, each duplicate copy once more) is delivered or dropped for one
// cause once the run has waited out the longest flight:
// Sent + Duplicated == Delivered + TotalDropped(). The scenario has loss,
// duplication, reordering, small link capacities and socket queues, bursts,
// broadcasts (the sender's own copy on its loopback link), unbound ports,
// cuts and a crash with restart. Sent is what the senders handed to the
// link, Delivered is what the readers read (all of it unless a crash threw
// away a socket's queue), one latency sample per delivery, none longer than
// the longest flight.
func TestPropDatagramConservation(t *testing.T) {
	propCheck(t, 200, func(t *rapid.T) {
		sc := udpScenario{
			nh:     rapid.IntRange(2, 5).Draw(t, "hosts"),
			seed:   rapid.Uint64().Draw(t, "seed"),
			sends:  rapid.IntRange(1, 40).Draw(t, "sends"),
			burst:  rapid.IntRange(1, 8).Draw(t, "burst"),
			maxGap: time.Duration(rapid.IntRange(0, 100).Draw(t, "max_gap_ms")) * time.Millisecond,
			cuts:   rapid.IntRange(0, 6).Draw(t, "cuts"),
			extras: true,
			crash:  rapid.Bool().Draw(t, "crash"),
		}
		sc.link, sc.flightUB = drawFaultyLink(t, 20*time.Millisecond, 30*time.Millisecond, 30, 30, 50)
		sc.link.Capacity = rapid.SampledFrom([]int{0, 1, 2, 4, 16}).Draw(t, "capacity")
		sc.opts.SocketQueue = rapid.SampledFrom([]int{0, 1, 2, 4}).Draw(t, "socket_queue")
		out := runUDP(t, sc)
		require.Nil(t, out.res.Failure, "run failed: %v", out.res.Failure)
		require.Empty(t, out.sockErrs)

		seen := map[[2]string]bool{}
		for _, s := range out.stats {
			seen[[2]string{s.From, s.To}] = true
			require.Equal(t, s.Sent+s.Duplicated, s.Delivered+s.TotalDropped(),
				"link %s->%s: sent %d + duplicated %d != delivered %d + dropped %d %v",
				s.From, s.To, s.Sent, s.Duplicated, s.Delivered, s.TotalDropped(), s.Dropped)
			from, err := strconv.Atoi(s.From[1:])
			require.NoError(t, err)
			to, err := strconv.Atoi(s.To[1:])
			require.NoError(t, err)
			require.Equal(t, uint64(out.sent[from][to]), s.Sent, "link %s->%s: Sent", s.From, s.To)
			if out.crashed {
				require.LessOrEqual(t, uint64(out.recvd[from][to]), s.Delivered, "link %s->%s: read <= Delivered", s.From, s.To)
			} else {
				require.Equal(t, uint64(out.recvd[from][to]), s.Delivered, "link %s->%s: Delivered is what was read", s.From, s.To)
			}
			require.Equal(t, s.Delivered, s.Latency.Count, "link %s->%s: one latency sample per delivery", s.From, s.To)
			require.LessOrEqual(t, s.Latency.Max, sc.flightUB, "link %s->%s", s.From, s.To)
			if sc.link.Loss == 0 {
				require.Zero(t, s.DroppedBy(netmodel.DropLoss))
			}
			if sc.cuts == 0 {
				require.Zero(t, s.DroppedBy(netmodel.DropPartition))
			}
			if !out.crashed {
				require.Zero(t, s.DroppedBy(netmodel.DropCrash))
			}
		}
		for i := range sc.nh {
			for j := range sc.nh {
				if out.sent[i][j] > 0 {
					require.True(t, seen[[2]string{propName(i), propName(j)}], "link %d->%d carried traffic but has no stats", i, j)
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 4. A crash resets peers.

// crashConn is one stream between the crashed host x and a peer: the side
// on x ("C") writes data in chunks and maybe closes; the peer's side ("P")
// maybe writes a little first, then reads until an error. A control
// stream between two other hosts must be unaffected.
type crashConn struct {
	peer      int
	xDials    bool
	data      []byte
	chunks    int
	gap       time.Duration
	closeC    bool
	peerWrite int
	control   bool // between two peers; x not involved
	other     int  // control: the reader's host (peer is the writer's)

	cClosed bool // C's Close returned before the crash
	got     []byte
	lastAt  time.Duration // when P last read a byte or EOF
	end     error
	endAt   time.Duration
}

func (c *crashConn) part(k int) []byte {
	return c.data[k*len(c.data)/c.chunks : (k+1)*len(c.data)/c.chunks]
}

// TestPropCrashResetsPeers: streams between a host x and random peers
// (either side dialing, then a lossy link with any latency); x crashes at a
// random time, with a one-way cut x->peer put in force at that instant for
// some peers, and restarts later (when the cut heals). Then:
//
//   - no task of x's first boot runs after the crash (every task records
//     itself after each blocking call);
//   - a peer reads nothing (no byte, no EOF) later than the crash plus the
//     longest flight: x sends nothing once crashed;
//   - a peer whose path from x is open at the crash, on a stream x had not
//     closed, ends with an error wrapping syscall.ECONNRESET within that
//     bound (after reading what had arrived);
//   - on a stream x had closed before crashing (its FIN queued, the
//     connection gone from x's table), the peer reads all the data then
//     io.EOF, within the bound, or, if the FIN could not arrive by then,
//     nothing more: its read deadline expires. A closed stream is not
//     reset (nothing is left to reset it);
//   - a peer cut off from x gets no RST: it ends on its read deadline, or
//     with ECONNRESET only once x has restarted (its own unacknowledged
//     bytes reaching the new x, which answers RST);
//   - streams not involving x carry all their data then EOF;
//   - after Restart x's start function runs again (Boots() == 2, seen from
//     inside), its listener serves a new connection, and the run passes
//     with CheckLeaks once main closes everything.
func TestPropCrashResetsPeers(t *testing.T) {
	propCheck(t, 200, func(t *rapid.T) {
		nh := rapid.IntRange(2, 5).Draw(t, "hosts")
		seed := rapid.Uint64().Draw(t, "seed")
		latCap := 20 * time.Millisecond
		lat := drawLatency(t, "latency", latCap)
		loss := drawProb(t, "loss", 30)
		x := rapid.IntRange(0, nh-1).Draw(t, "crashed")
		crashAfter := time.Duration(rapid.IntRange(0, 2000).Draw(t, "crash_after_ms")) * time.Millisecond
		restartAfter := time.Duration(rapid.IntRange(1, 3000).Draw(t, "restart_after_ms")) * time.Millisecond
		var conns []*crashConn
		for k, nc := 0, rapid.IntRange(1, 6).Draw(t, "conns"); k < nc; k++ {
			c := &crashConn{
				peer:   (x + 1 + rapid.IntRange(0, nh-2).Draw(t, "peer")) % nh,
				xDials: rapid.Bool().Draw(t, "x_dials"),
				chunks: rapid.IntRange(1, 5).Draw(t, "chunks"),
				gap:    time.Duration(rapid.IntRange(0, 500).Draw(t, "gap_ms")) * time.Millisecond,
				closeC: rapid.Bool().Draw(t, "close_c"),
			}
			c.data = randBytes(sim.NewRand(seed+uint64(k)), rapid.IntRange(0, 3000).Draw(t, "data_len"))
			if !c.closeC {
				c.peerWrite = rapid.IntRange(0, 200).Draw(t, "peer_write")
			}
			conns = append(conns, c)
		}
		if nh >= 3 {
			a := (x + 1) % nh
			conns = append(conns, &crashConn{control: true, peer: a, other: (a + 1) % nh,
				data: randBytes(sim.NewRand(seed), 2000), chunks: 4, gap: 300 * time.Millisecond})
		}
		cutOff := make([]bool, nh)
		for i := range nh {
			if i != x {
				cutOff[i] = rapid.IntRange(0, 3).Draw(t, "cut_off") == 0
			}
		}

		var (
			p         *propNet
			wg        sim.WaitGroup
			crashed   bool
			crashAt   time.Duration
			restartAt time.Duration
			deadline  time.Time // for P's reads, set at the crash
			pConns    []net.Conn
			xBoots    []int
			zombies   []string
			errs      []string
			greeting  []byte
			listeners = make([]net.Listener, nh)
			// ids tells a server which stream it accepted: main sends the
			// id under the client's address once its dial returns.
			ids = map[string]sim.Chan[int]{}
		)
		idChan := func(addr net.Addr) sim.Chan[int] {
			ch, ok := ids[addr.String()]
			if !ok {
				ch = sim.NewChan[int](p.w, 1)
				ids[addr.String()] = ch
			}
			return ch
		}
		alive := func(host, boot int, what string) {
			if host == x && boot == 1 && crashed {
				zombies = append(zombies, fmt.Sprintf("%s (boot 1) at %v after the crash at %v", what, p.w.Elapsed(), crashAt))
			}
		}
		// roleC writes c's data from x's side, then closes, or reads what
		// the peer sends until an error.
		roleC := func(c *crashConn, conn net.Conn, boot int) {
			for k := range c.chunks {
				p.w.Sleep(c.gap)
				alive(x, boot, "C writer")
				_, err := conn.Write(c.part(k))
				alive(x, boot, "C writer")
				if err != nil {
					conn.Close()
					return
				}
			}
			if c.closeC {
				conn.Close()
				alive(x, boot, "C closer")
				c.cClosed = true
				return
			}
			buf := make([]byte, 100)
			for {
				_, err := conn.Read(buf)
				alive(x, boot, "C reader")
				if err != nil {
					conn.Close()
					return
				}
			}
		}
		// roleP reads from the peer's side until an error.
		roleP := func(c *crashConn, conn net.Conn) {
			defer wg.Done()
			defer conn.Close()
			pConns = append(pConns, conn)
			if crashed {
				conn.SetReadDeadline(deadline)
			}
			if c.peerWrite > 0 {
				if _, err := conn.Write(make([]byte, c.peerWrite)); err != nil {
					errs = append(errs, fmt.Sprintf("peer write: %v", err))
				}
			}
			buf := make([]byte, 512)
			for {
				k, err := conn.Read(buf)
				c.got = append(c.got, buf[:k]...)
				if k > 0 || err == io.EOF {
					c.lastAt = p.w.Elapsed()
				}
				if err != nil {
					c.end, c.endAt = err, p.w.Elapsed()
					return
				}
			}
		}
		// Control streams: the writer writes and closes, the reader reads
		// to EOF.
		roleCtlWriter := func(c *crashConn, conn net.Conn) {
			defer wg.Done()
			defer conn.Close()
			for k := range c.chunks {
				p.w.Sleep(c.gap)
				if _, err := conn.Write(c.part(k)); err != nil {
					errs = append(errs, fmt.Sprintf("control write: %v", err))
					return
				}
			}
		}
		roleCtlReader := func(c *crashConn, conn net.Conn) {
			defer wg.Done()
			defer conn.Close()
			c.got, c.end = io.ReadAll(conn)
		}
		// Every host's start function: listen on :9000 and serve each
		// stream in its role.
		start := func(i int) func(netmodel.Env) {
			return func(env netmodel.Env) {
				boot := p.hosts[i].Boots()
				if i == x {
					xBoots = append(xBoots, boot)
				}
				alive(i, boot, "start")
				ln, err := env.Net().Listen("tcp", ":9000")
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s boot %d: listen: %v", env.HostName(), boot, err))
					return
				}
				listeners[i] = ln
				for {
					conn, err := ln.Accept()
					alive(i, boot, "acceptor")
					if err != nil {
						return
					}
					env.Go("handler", func() {
						id := idChan(conn.RemoteAddr()).Recv()
						alive(i, boot, "handler")
						if id == len(conns) {
							// After the restart: a greeting.
							conn.Write([]byte("hello again"))
							alive(i, boot, "greeter")
							conn.Close()
							return
						}
						c := conns[id]
						switch {
						case c.control:
							roleCtlReader(c, conn)
						case i == x:
							roleC(c, conn, boot)
						default:
							roleP(c, conn)
						}
					})
				}
			}
		}
		p = newPropNet(t, sim.Options{Seed: seed, CheckLeaks: true}, netmodel.Options{}, netmodel.Link{Latency: lat}, nh, start)
		w := p.w
		wg = w.NewWaitGroup()

		res, err := w.Run(func() {
			w.Sleep(time.Millisecond) // every host listens
			for id, c := range conns {
				client, server := c.peer, x
				if c.control {
					server = c.other
				} else if c.xDials {
					client, server = x, c.peer
				}
				env := p.hosts[client].Env()
				conn, err := env.Net().Dial("tcp", p.names[server]+":9000")
				if err != nil {
					errs = append(errs, fmt.Sprintf("dial %s->%s: %v", p.names[client], p.names[server], err))
					return
				}
				idChan(conn.LocalAddr()).Send(id)
				switch {
				case c.control:
					wg.Add(2) // the writer here, the reader at the server
					env.Go("control-writer", func() { roleCtlWriter(c, conn) })
				case client == x:
					wg.Add(1) // P is the server's handler
					env.Go("C", func() { roleC(c, conn, 1) })
				default:
					wg.Add(1)
					env.Go("P", func() { roleP(c, conn) })
				}
			}
			if err := p.setFaults(netmodel.Link{Loss: loss}); err != nil {
				errs = append(errs, err.Error())
				return
			}
			w.Sleep(crashAfter)
			for i := range nh {
				if cutOff[i] {
					_ = p.n.PartitionOneWay([]string{p.names[x]}, []string{p.names[i]})
				}
			}
			if err := p.n.Crash(p.names[x]); err != nil {
				errs = append(errs, err.Error())
				return
			}
			crashed, crashAt = true, w.Elapsed()
			// Peers stop waiting some time after the restart.
			deadline = w.Now().Add(restartAfter + 2*time.Second)
			for _, c := range pConns {
				c.SetReadDeadline(deadline)
			}
			w.Sleep(restartAfter)
			p.n.Heal()
			if err := p.n.Restart(p.names[x]); err != nil {
				errs = append(errs, err.Error())
				return
			}
			restartAt = w.Elapsed()
			w.Sleep(time.Millisecond)
			// The restarted host serves again (dialed without loss: a
			// dial that loses every SYN until its timeout is legitimate).
			if err := p.setFaults(netmodel.Link{}); err != nil {
				errs = append(errs, err.Error())
				return
			}
			conn, err := p.hosts[(x+1)%nh].Env().Net().Dial("tcp", p.names[x]+":9000")
			if err != nil {
				errs = append(errs, fmt.Sprintf("dial the restarted host: %v", err))
			} else {
				idChan(conn.LocalAddr()).Send(len(conns))
				if greeting, err = io.ReadAll(conn); err != nil {
					errs = append(errs, fmt.Sprintf("read from the restarted host: %v", err))
				}
				conn.Close()
			}
			wg.Wait()
			for _, ln := range listeners {
				if ln != nil {
					ln.Close()
				}
			}
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "run failed: %v", res.Failure)
		require.Empty(t, errs)
		require.Empty(t, zombies, "tasks of the crashed host ran after the crash")
		require.Equal(t, []int{1, 2}, xBoots, "the start function ran again after Restart")
		require.Equal(t, 2, p.hosts[x].Boots())
		require.Equal(t, "hello again", string(greeting), "the restarted host serves")

		bound := crashAt + latCap
		for id, c := range conns {
			if c.control {
				require.NoError(t, c.end, "control stream %d", id)
				require.Equal(t, c.data, c.got, "control stream %d carries its data", id)
				continue
			}
			where := fmt.Sprintf("stream %d (x=%s peer=%s xDials=%v closeC=%v closed=%v cut=%v crash=%v)",
				id, p.names[x], p.names[c.peer], c.xDials, c.closeC, c.cClosed, cutOff[c.peer], crashAt)
			require.True(t, len(c.got) <= len(c.data) && slices.Equal(c.got, c.data[:len(c.got)]),
				"%s: the peer read bytes x did not write", where)
			require.LessOrEqual(t, c.lastAt, bound, "%s: the peer read data or EOF from x at %v, after the crash (+ a flight)", where, c.lastAt)
			var ne net.Error
			timedOut := errors.As(c.end, &ne) && ne.Timeout()
			switch {
			case c.cClosed:
				if c.end == io.EOF {
					require.True(t, bytes.Equal(c.data, c.got), "%s: EOF after all the data (%d of %d bytes)", where, len(c.got), len(c.data))
				} else {
					require.True(t, timedOut, "%s: a closed stream ends in EOF or nothing (read deadline), got %v", where, c.end)
				}
			case !cutOff[c.peer]:
				require.ErrorIs(t, c.end, syscall.ECONNRESET, "%s: the peer is reset", where)
				require.LessOrEqual(t, c.endAt, bound, "%s: the RST arrives within a flight of the crash", where)
			default:
				if errors.Is(c.end, syscall.ECONNRESET) {
					require.GreaterOrEqual(t, c.endAt, restartAt, "%s: cut off, reset only by the restarted host", where)
				} else {
					require.True(t, timedOut, "%s: cut off from x, the peer learns nothing: %v", where, c.end)
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 5. Determinism with faults.

type swarmOutcome struct {
	res   sim.Result
	stats []netmodel.LinkStats
	log   []string
	plan  string
}

// runSwarm runs a swarm-drawn fault plan over hosts that serve UDP and TCP
// echo and run clients talking to random peers; it returns everything
// observable.
func runSwarm(t require.TestingT, seed uint64, nh int, dur time.Duration) swarmOutcome {
	var out swarmOutcome
	names := make([]string, nh)
	for i := range names {
		names[i] = propName(i)
	}
	draw, err := netmodel.Swarm(sim.NewRand(seed), netmodel.SwarmConfig{Hosts: names, Duration: dur, MaxEvents: 12})
	require.NoError(t, err)
	out.plan = draw.Plan.String()
	var w *sim.World
	logf := func(env netmodel.Env, format string, args ...any) {
		out.log = append(out.log, fmt.Sprintf("%v %s %s", w.Elapsed(), env.HostName(), fmt.Sprintf(format, args...)))
	}
	start := func(i int) func(netmodel.Env) {
		return func(env netmodel.Env) {
			logf(env, "boot")
			pc, err := env.Net().ListenPacket("udp", ":7")
			if err != nil {
				logf(env, "listen udp: %v", err)
				return
			}
			env.Go("udp-echo", func() {
				buf := make([]byte, 128)
				for {
					k, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					logf(env, "udp from %v: %q", from, buf[:k])
					pc.WriteTo(buf[:k], from)
				}
			})
			ln, err := env.Net().Listen("tcp", ":8")
			if err != nil {
				logf(env, "listen tcp: %v", err)
				return
			}
			env.Go("tcp-accept", func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					env.Go("tcp-echo", func() {
						defer c.Close()
						c.SetDeadline(env.Now().Add(5 * time.Second))
						buf := make([]byte, 128)
						for {
							k, err := c.Read(buf)
							if err != nil {
								logf(env, "tcp echo end: %v", err)
								return
							}
							logf(env, "tcp from %v: %q", c.RemoteAddr(), buf[:k])
							if _, err := c.Write(buf[:k]); err != nil {
								logf(env, "tcp echo write: %v", err)
								return
							}
						}
					})
				}
			})
			client, err := env.Net().ListenPacket("udp", ":0")
			if err != nil {
				logf(env, "listen client: %v", err)
				return
			}
			rnd := env.Rand("client")
			buf := make([]byte, 128)
			for seq := 0; ; seq++ {
				env.Sleep(time.Duration(20+rnd.Intn(500)) * time.Millisecond)
				peer := (i + 1 + rnd.Intn(nh-1)) % nh
				msg := fmt.Sprintf("%s#%d", env.HostName(), seq)
				if rnd.Intn(3) > 0 {
					client.WriteTo([]byte(msg), propUDP(peer, 7))
					client.SetReadDeadline(env.Now().Add(300 * time.Millisecond))
					k, from, err := client.ReadFrom(buf)
					logf(env, "udp reply from %v: %q %v", from, buf[:k], err)
					continue
				}
				c, err := env.Net().DialTimeout("tcp", propName(peer)+":8", 2*time.Second)
				if err != nil {
					logf(env, "dial: %v", err)
					continue
				}
				c.SetDeadline(env.Now().Add(2 * time.Second))
				_, err = c.Write([]byte(msg))
				k, rerr := io.ReadFull(c, buf[:len(msg)])
				logf(env, "tcp reply %q %v %v", buf[:k], err, rerr)
				c.Close()
			}
		}
	}
	p := newPropNet(t, sim.Options{Seed: seed}, netmodel.Options{}, draw.Link, nh, start)
	w = p.w
	require.NoError(t, p.n.Apply(draw.Plan))
	out.res, err = w.Run(func() { w.Sleep(dur) })
	require.NoError(t, err)
	out.stats = p.n.Stats()
	return out
}

// TestPropDeterministicWithFaults: a swarm-drawn scenario (fault plan of
// partitions, one-way cuts, isolations, flaps, crashes with restarts, clock
// offsets and link fault changes; the drawn link profile; UDP and TCP
// traffic) run twice from the same seed, and again under GOMAXPROCS 1 and
// 4, passes every time with the same fingerprint, steps, link statistics
// and log of everything the hosts received.
func TestPropDeterministicWithFaults(t *testing.T) {
	propCheck(t, 50, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		nh := rapid.IntRange(2, 5).Draw(t, "hosts")
		dur := time.Duration(rapid.IntRange(10, 60).Draw(t, "seconds")) * time.Second

		first := runSwarm(t, seed, nh, dur)
		require.Nil(t, first.res.Failure, "run failed: %v\nplan:\n%s", first.res.Failure, first.plan)
		require.NotEmpty(t, first.log)
		same := func(label string, o swarmOutcome) {
			require.Nil(t, o.res.Failure, "%s: run failed: %v", label, o.res.Failure)
			require.Equal(t, first.res.Fingerprint, o.res.Fingerprint, "%s: fingerprint", label)
			require.Equal(t, first.res.Steps, o.res.Steps, "%s: steps", label)
			require.Equal(t, first.res.Elapsed, o.res.Elapsed, "%s: elapsed", label)
			require.Equal(t, first.stats, o.stats, "%s: link statistics", label)
			require.Equal(t, first.log, o.log, "%s: received data", label)
		}
		same("second run", runSwarm(t, seed, nh, dur))
		for _, procs := range []int{1, 4} {
			old := runtime.GOMAXPROCS(procs)
			o := runSwarm(t, seed, nh, dur)
			runtime.GOMAXPROCS(old)
			same("GOMAXPROCS="+strconv.Itoa(procs), o)
		}
	})
}

// ---------------------------------------------------------------------------
// Regression tests for network-model bugs the properties found; each failed
// before its fix (crash order, crashed-host retransmits, ACK path, abortive
// close).

// TestNetRegression_AckPathOneWay: a one-way cut of the reverse direction
// (b->a) of a stream a->b. On a real TCP, a's segments reach b but b's
// ACKs never reach a, so a's data stays unacknowledged and, after
// TCP_USER_TIMEOUT, a's connection fails with ETIMEDOUT. The model has no
// ACKs (a segment counts as acknowledged when it arrives), so a never
// times out: its Read runs into its deadline instead.
func TestNetRegression_AckPathOneWay(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{UserTimeout: 10 * time.Second})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		defer c2.Close()
		defer c1.Close()
		require.NoError(t, l.n.PartitionOneWay([]string{"b"}, []string{"a"}))
		_, err := c1.Write([]byte("hello"))
		require.NoError(t, err)
		require.NoError(t, c1.SetReadDeadline(l.a.Env().Now().Add(30*time.Second)))
		_, err = c1.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "unacknowledged for longer than UserTimeout")
	})
}

// TestNetRegression_CloseWithUnreadData: b closes a stream with bytes it has
// not read while a is blocked writing (send buffer full). On Linux, close
// with unread data sends an RST at once (tcp_close: data_was_unread), so
// a's blocked write fails with ECONNRESET. The model sends a FIN, drops the
// unread bytes without giving their room back (pipe.unread), and sends no
// RST: a stays blocked until its deadline (forever without one).
func TestNetRegression_CloseWithUnreadData(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{SendBuffer: 10})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		defer c1.Close()
		l.b.Env().Go("closer", func() {
			l.w.Sleep(100 * time.Millisecond)
			c2.Close()
		})
		require.NoError(t, c1.SetWriteDeadline(l.a.Env().Now().Add(10*time.Second)))
		n, err := c1.Write(make([]byte, 20))
		assert.Equal(t, 10, n)
		assert.ErrorIs(t, err, syscall.ECONNRESET, "the peer closed with unread data: RST")
	})
}

// TestNetRegression_CrashedHostRetransmits: a writes "hello" and closes while
// a->b is cut, then crashes; the cut heals. A crashed host's kernel state
// is gone, so nothing more can come from it: b reads nothing. In the model
// the closed stream's pipe was released from a's connection table by
// Close, so Crash neither resets nor kills it, and its retransmission
// timer (a plain World event, not owned by the host) keeps resending:
// b reads "hello" and EOF from a host that is down.
func TestNetRegression_CrashedHostRetransmits(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		c1, c2, _ := pair(t, l)
		defer c2.Close()
		require.NoError(t, l.n.PartitionOneWay([]string{"a"}, []string{"b"}))
		_, err := c1.Write([]byte("hello"))
		require.NoError(t, err)
		require.NoError(t, c1.Close())
		l.w.Sleep(100 * time.Millisecond)
		require.NoError(t, l.n.Crash("a"))
		l.n.Heal()
		require.NoError(t, c2.SetReadDeadline(l.b.Env().Now().Add(5*time.Second)))
		buf := make([]byte, 10)
		n, err := c2.Read(buf)
		assert.Equal(t, 0, n, "read %q from a crashed host", buf[:n])
		assert.True(t, isTimeout(err), "want the read deadline, got %v", err)
	})
}

// TestNetRegression_CrashWakeOrder: a host with several sockets, each with a
// task blocked reading it, crashes; the same seed must give the same run.
// Network.Crash (faults.go) ranges over the maps h.listeners and h.udp
// (the "//detsim:allow ... order is irrelevant" lines) and broadcasts each
// socket's Signal in map order; the woken tasks enter the World's runnable
// list in that order, so which task the scheduler picks next, and the
// fingerprint, change from run to run (Go randomizes map iteration).
// Found by TestPropDeterministicWithFaults (swarm plans with crashes).
// Closing in a fixed order (sorted keys, or creation order) fixes it.
func TestNetRegression_CrashWakeOrder(t *testing.T) {
	run := func() uint64 {
		l := newLAN(t, sim.Options{Seed: 1}, netmodel.Options{})
		res := l.run(t, func() {
			for port := range 8 {
				pc, err := l.b.Env().Net().ListenPacket("udp", ":"+strconv.Itoa(9000+port))
				require.NoError(t, err)
				l.b.Env().Go("reader", func() { pc.ReadFrom(make([]byte, 1)) })
			}
			l.w.Sleep(time.Millisecond)
			require.NoError(t, l.n.Crash("b"))
			l.w.Sleep(time.Millisecond)
		})
		return res.Fingerprint
	}
	first := run()
	for range 20 {
		require.Equal(t, first, run(), "same seed, same fingerprint")
	}
}

// TestNetRegression_PrunedPipeWithPendingStall: a host lets go of the pipes
// of finished connections, but one whose retransmission timer is still
// pending (a failed arrival scheduled a second one) must still die in a
// crash: a later dial on the crashing host, which prunes the list, must
// change no counter. Found in review: the timer fired on a pruned pipe
// and counted a retransmission of nothing.
func TestNetRegression_PrunedPipeWithPendingStall(t *testing.T) {
	stats := func(redial bool) netmodel.LinkStats {
		l := newLAN(t, sim.Options{Seed: 1, Strategy: sim.Strategy{Kind: sim.FIFO}}, netmodel.Options{},
			netmodel.Link{Latency: netmodel.Constant(10 * time.Millisecond)})
		l.run(t, func() {
			c1, c2, _ := pair(t, l)
			defer c2.Close()
			_, err := c1.Write([]byte("x"))
			require.NoError(t, err)
			l.w.Sleep(time.Millisecond)
			require.NoError(t, l.n.Partition([]string{"a"}, []string{"b"}))
			l.w.Sleep(time.Millisecond)
			_, err = c1.Write([]byte("y"))
			require.NoError(t, err)
			l.w.Sleep(98 * time.Millisecond)
			l.n.Heal()
			l.w.Sleep(50 * time.Millisecond)
			require.NoError(t, c1.Close())
			l.w.Sleep(150 * time.Millisecond)
			if redial {
				// A second connection from a: newPipe prunes a's list.
				ln, err := l.c.Env().Net().Listen("tcp", ":7001")
				require.NoError(t, err)
				defer ln.Close()
				l.c.Env().Go("accept", func() {
					if c, err := ln.Accept(); err == nil {
						c.Close()
					}
				})
				c3, err := l.a.Env().Net().Dial("tcp", "10.0.0.3:7001")
				require.NoError(t, err)
				defer c3.Close()
			}
			l.w.Sleep(50 * time.Millisecond)
			require.NoError(t, l.n.Crash("a"))
			l.w.Sleep(5 * time.Second)
		})
		for _, s := range l.n.Stats() {
			if s.From == "a" && s.To == "b" {
				return s
			}
		}
		t.Fatal("no a->b link")
		return netmodel.LinkStats{}
	}
	assert.Equal(t, stats(false).Retransmits, stats(true).Retransmits, "a prune must not change what a crash stops")
}
