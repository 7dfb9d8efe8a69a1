package discovery_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/detsim/detsim/protocols/discovery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func samplePresence() discovery.Presence {
	return discovery.Presence{
		NodeID: "node-a", GRPCPort: 50051, Priority: 4, InterfaceName: "en0", InterfaceType: "Ethernet",
		Capabilities: discovery.Capabilities{Model: "MacBook Pro", Chip: "Apple M3 Max", MemoryMB: 131072, FP32: 14.2, FP16: 28.4, INT8: 56.8},
	}
}

func TestPresenceRoundTripAndWireShape(t *testing.T) {
	p := samplePresence()
	b, err := discovery.EncodePresence(p)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.Equal(t, "discovery", raw["type"])
	assert.Equal(t, "node-a", raw["node_id"])
	assert.EqualValues(t, 50051, raw["grpc_port"])
	assert.EqualValues(t, 4, raw["priority"])
	assert.Equal(t, "en0", raw["interface_name"])
	assert.Equal(t, "Ethernet", raw["interface_type"])
	caps := raw["device_capabilities"].(map[string]any)
	assert.Equal(t, "MacBook Pro", caps["model"])
	assert.Equal(t, "Apple M3 Max", caps["chip"])
	assert.EqualValues(t, 131072, caps["memory"])
	assert.Equal(t, map[string]any{"fp32": 14.2, "fp16": 28.4, "int8": 56.8}, caps["flops"])

	got, err := discovery.DecodePresence(b)
	require.NoError(t, err)
	assert.Equal(t, p, got)
}

func TestDecodePresenceAcceptsExoShapes(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want discovery.Presence
	}{
		{
			name: "python-json-dumps-spacing-and-unknown-fields",
			in:   `{"type": "discovery", "node_id": "abc", "grpc_port": 50051, "device_capabilities": {"model": "m", "chip": "c", "memory": 8, "flops": {"fp32": 1, "fp16": 2, "int8": 3}}, "priority": 2, "interface_name": "eth0", "interface_type": "Ethernet", "extra": [1, {"x": null}]}`,
			want: discovery.Presence{NodeID: "abc", GRPCPort: 50051, Priority: 2, InterfaceName: "eth0", InterfaceType: "Ethernet",
				Capabilities: discovery.Capabilities{Model: "m", Chip: "c", MemoryMB: 8, FP32: 1, FP16: 2, INT8: 3}},
		},
		{
			name: "july-2024-no-priority-no-interface",
			in:   `{"type":"discovery","node_id":"abc","grpc_port":8080,"device_capabilities":{"model":"m","chip":"c","memory":8}}`,
			want: discovery.Presence{NodeID: "abc", GRPCPort: 8080, Priority: discovery.DefaultPriority,
				Capabilities: discovery.Capabilities{Model: "m", Chip: "c", MemoryMB: 8}},
		},
		{
			name: "trailing-whitespace",
			in:   "{\"type\":\"discovery\",\"node_id\":\"n\",\"grpc_port\":1}\n\t ",
			want: discovery.Presence{NodeID: "n", GRPCPort: 1, Priority: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := discovery.DecodePresence([]byte(c.in))
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestDecodePresenceRejects(t *testing.T) {
	long := `{"type":"discovery","node_id":"` + strings.Repeat("x", discovery.MaxDatagramSize) + `","grpc_port":1}`
	// Fits as received, but the canonical form adds the default priority
	// and the empty fields: it could not be sent back.
	nearLimit := `{"type":"discovery","grpc_port":1,"node_id":"` + strings.Repeat("y", discovery.MaxDatagramSize-60) + `"}`
	require.LessOrEqual(t, len(nearLimit), discovery.MaxDatagramSize)
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", discovery.ErrMalformed},
		{"not-json", "hello", discovery.ErrMalformed},
		{"array", "[1,2]", discovery.ErrMalformed},
		{"null", "null", discovery.ErrWrongType},
		{"trailing-garbage", `{"type":"discovery","node_id":"n","grpc_port":1}{}`, discovery.ErrMalformed},
		{"trailing-text", `{"type":"discovery","node_id":"n","grpc_port":1} x`, discovery.ErrMalformed},
		{"truncated", `{"type":"discovery","node_id":"n"`, discovery.ErrMalformed},
		{"wrong-type", `{"type":"other","node_id":"n","grpc_port":1}`, discovery.ErrWrongType},
		{"no-type", `{"node_id":"n","grpc_port":1}`, discovery.ErrWrongType},
		{"no-node-id", `{"type":"discovery","grpc_port":1}`, discovery.ErrNoNodeID},
		{"empty-node-id", `{"type":"discovery","node_id":"","grpc_port":1}`, discovery.ErrNoNodeID},
		{"no-port", `{"type":"discovery","node_id":"n"}`, discovery.ErrBadPort},
		{"port-zero", `{"type":"discovery","node_id":"n","grpc_port":0}`, discovery.ErrBadPort},
		{"port-negative", `{"type":"discovery","node_id":"n","grpc_port":-1}`, discovery.ErrBadPort},
		{"port-too-big", `{"type":"discovery","node_id":"n","grpc_port":65536}`, discovery.ErrBadPort},
		{"port-string", `{"type":"discovery","node_id":"n","grpc_port":"50051"}`, discovery.ErrMalformed},
		{"port-float", `{"type":"discovery","node_id":"n","grpc_port":1.5}`, discovery.ErrMalformed},
		{"node-id-number", `{"type":"discovery","node_id":7,"grpc_port":1}`, discovery.ErrMalformed},
		{"caps-not-object", `{"type":"discovery","node_id":"n","grpc_port":1,"device_capabilities":"big"}`, discovery.ErrMalformed},
		{"oversized", long, discovery.ErrTooLarge},
		{"canonical-oversized", nearLimit, discovery.ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := discovery.DecodePresence([]byte(c.in))
			require.Error(t, err)
			assert.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
		})
	}
}

func TestEncodePresenceRejects(t *testing.T) {
	p := samplePresence()
	p.NodeID = ""
	_, err := discovery.EncodePresence(p)
	assert.ErrorIs(t, err, discovery.ErrNoNodeID)
	p = samplePresence()
	p.GRPCPort = 0
	_, err = discovery.EncodePresence(p)
	assert.ErrorIs(t, err, discovery.ErrBadPort)
	p = samplePresence()
	p.NodeID = strings.Repeat("z", discovery.MaxDatagramSize)
	_, err = discovery.EncodePresence(p)
	assert.ErrorIs(t, err, discovery.ErrTooLarge)
}

// FuzzDecodePresence: the decoder never panics, and whatever it accepts
// re-encodes and decodes to the same value.
func FuzzDecodePresence(f *testing.F) {
	good, err := discovery.EncodePresence(samplePresence())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(good), "", "{}", "null", "[]", `{"type":"discovery"}`,
		`{"type":"discovery","node_id":"n","grpc_port":1}`,
		`{"type":"discovery","node_id":"\u2028<>&\ufffd","grpc_port":65535,"priority":-3}`,
		`{"type":"discovery","node_id":"n","grpc_port":1,"device_capabilities":{"flops":{"fp32":1e308,"fp16":-0,"int8":5e-324}}}`,
		`{"TYPE":"discovery","Node_ID":"n","grpc_port":1,"node_id":"m"}`,
		"{\"type\":\"discovery\",\"node_id\":\"\xff\xfe\",\"grpc_port\":2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := discovery.DecodePresence(b)
		if err != nil {
			return
		}
		if len(b) > discovery.MaxDatagramSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		enc, err := discovery.EncodePresence(p)
		if err != nil {
			t.Fatalf("accepted %q but cannot re-encode %+v: %v", b, p, err)
		}
		q, err := discovery.DecodePresence(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		if p != q {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", p, q)
		}
	})
}

func TestParseVariant(t *testing.T) {
	for _, c := range []struct {
		in   string
		want discovery.Variant
	}{
		{"", discovery.Fixed}, {"fixed", discovery.Fixed}, {"blocking", discovery.Blocking},
		{"buggy", discovery.Blocking}, {"racy-cleanup", discovery.RacyCleanup},
	} {
		v, err := discovery.ParseVariant(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, v, c.in)
	}
	_, err := discovery.ParseVariant("racy")
	assert.ErrorContains(t, err, `unknown variant "racy"`)
}

func TestOptionsValidate(t *testing.T) {
	ok := discovery.DefaultOptions("a")
	require.NoError(t, ok.Validate())
	cases := []struct {
		field string
		mod   func(*discovery.Options)
	}{
		{"NodeID", func(o *discovery.Options) { o.NodeID = "" }},
		{"ServicePort", func(o *discovery.Options) { o.ServicePort = 70000 }},
		{"ListenPort", func(o *discovery.Options) { o.ListenPort = -1 }},
		{"BroadcastPort", func(o *discovery.Options) { o.BroadcastPort = 65536 }},
		{"BroadcastInterval", func(o *discovery.Options) { o.BroadcastInterval = -1 }},
		{"BroadcastInterval", func(o *discovery.Options) { o.BroadcastInterval = 0 }},
		{"PeerTimeout", func(o *discovery.Options) { o.PeerTimeout = -1 }},
		{"PeerTimeout", func(o *discovery.Options) { o.PeerTimeout = o.BroadcastInterval - 1 }},
		{"PeerTimeout", func(o *discovery.Options) { o.PeerTimeout = 0 }},
		{"CleanupInterval", func(o *discovery.Options) { o.CleanupInterval = -1 }},
		{"ConnectTimeout", func(o *discovery.Options) { o.ConnectTimeout = -1 }},
		{"HealthCheckTimeout", func(o *discovery.Options) { o.HealthCheckTimeout = -1 }},
		{"variant", func(o *discovery.Options) { o.Variant = "nope" }},
	}
	for _, c := range cases {
		o := ok
		c.mod(&o)
		err := o.Validate()
		require.Error(t, err, c.field)
		assert.Contains(t, err.Error(), c.field)
	}
}
