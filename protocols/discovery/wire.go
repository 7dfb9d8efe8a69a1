package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxDatagramSize is the largest presence datagram accepted (exo reads
// with a 1024-byte buffer).
const MaxDatagramSize = 1024

// MessageType is the "type" of a presence datagram.
const MessageType = "discovery"

// Presence is the content of a presence datagram. On the wire it is exo's
// JSON:
//
//	{"type":"discovery","node_id":"...","grpc_port":50051,
//	 "device_capabilities":{"model":"...","chip":"...","memory":16384,
//	   "flops":{"fp32":1.5,"fp16":3,"int8":6}},
//	 "priority":1,"interface_name":"lan","interface_type":"Ethernet"}
type Presence struct {
	NodeID        string
	GRPCPort      int
	Capabilities  Capabilities
	Priority      int
	InterfaceName string
	InterfaceType string
}

// Decoding errors (wrapped by DecodePresence's and EncodePresence's
// errors).
var (
	ErrTooLarge  = errors.New("presence larger than MaxDatagramSize")
	ErrMalformed = errors.New("presence is not a JSON object of the expected shape")
	ErrWrongType = errors.New(`presence "type" is not "discovery"`)
	ErrNoNodeID  = errors.New("presence has no node_id")
	ErrBadPort   = errors.New("presence grpc_port out of range 1-65535")
)

// Drop reasons passed to Hooks.OnDrop.
const (
	DropOversized     = "oversized"
	DropMalformed     = "malformed"
	DropWrongType     = "wrong-type"
	DropNoNodeID      = "no-node-id"
	DropBadPort       = "bad-port"
	DropNotAllowed    = "not-allowed"
	DropInterfaceType = "interface-type-not-allowed"
	DropBadSource     = "bad-source-address"
)

// dropReason maps a DecodePresence error to its drop reason.
func dropReason(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return DropOversized
	case errors.Is(err, ErrWrongType):
		return DropWrongType
	case errors.Is(err, ErrNoNodeID):
		return DropNoNodeID
	case errors.Is(err, ErrBadPort):
		return DropBadPort
	}
	return DropMalformed
}

type wirePresence struct {
	Type               string   `json:"type"`
	NodeID             string   `json:"node_id"`
	GRPCPort           int      `json:"grpc_port"`
	DeviceCapabilities wireCaps `json:"device_capabilities"`
	// Priority is a pointer so that a presence without one (exo before
	// Dec 2024 always sent 1) decodes as DefaultPriority.
	Priority      *int   `json:"priority"`
	InterfaceName string `json:"interface_name"`
	InterfaceType string `json:"interface_type"`
}

type wireCaps struct {
	Model  string    `json:"model"`
	Chip   string    `json:"chip"`
	Memory int       `json:"memory"`
	Flops  wireFlops `json:"flops"`
}

type wireFlops struct {
	FP32 float64 `json:"fp32"`
	FP16 float64 `json:"fp16"`
	INT8 float64 `json:"int8"`
}

// EncodePresence encodes p as a presence datagram. It fails if p would be
// rejected by DecodePresence (empty node id, port out of range, larger
// than MaxDatagramSize, a NaN or infinite flops value).
func EncodePresence(p Presence) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("discovery: encode presence: %w", err)
	}
	b, err := encode(p)
	if err != nil {
		return nil, fmt.Errorf("discovery: encode presence: %w", err)
	}
	if len(b) > MaxDatagramSize {
		return nil, fmt.Errorf("discovery: encode presence: %w (%d bytes)", ErrTooLarge, len(b))
	}
	return b, nil
}

func encode(p Presence) ([]byte, error) {
	prio := p.Priority
	w := wirePresence{
		Type: MessageType, NodeID: p.NodeID, GRPCPort: p.GRPCPort,
		DeviceCapabilities: wireCaps{
			Model: p.Capabilities.Model, Chip: p.Capabilities.Chip, Memory: p.Capabilities.MemoryMB,
			Flops: wireFlops{FP32: p.Capabilities.FP32, FP16: p.Capabilities.FP16, INT8: p.Capabilities.INT8},
		},
		Priority: &prio, InterfaceName: p.InterfaceName, InterfaceType: p.InterfaceType,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (p Presence) check() error {
	if p.NodeID == "" {
		return ErrNoNodeID
	}
	if p.GRPCPort < 1 || p.GRPCPort > 65535 {
		return fmt.Errorf("%w: %d", ErrBadPort, p.GRPCPort)
	}
	return nil
}

// DecodePresence decodes a presence datagram. It rejects a datagram larger
// than MaxDatagramSize, anything but one JSON object (trailing data
// included), a "type" other than "discovery", a missing or empty node_id,
// a grpc_port outside 1-65535, fields of the wrong JSON type, and a
// presence whose canonical encoding (EncodePresence) would not fit in
// MaxDatagramSize, so that everything accepted re-encodes. Unknown fields
// are ignored; a missing priority is DefaultPriority.
func DecodePresence(b []byte) (Presence, error) {
	if len(b) > MaxDatagramSize {
		return Presence{}, fmt.Errorf("discovery: decode presence: %w (%d bytes)", ErrTooLarge, len(b))
	}
	var w wirePresence
	if err := json.Unmarshal(b, &w); err != nil {
		return Presence{}, fmt.Errorf("discovery: decode presence: %w: %v", ErrMalformed, err)
	}
	if w.Type != MessageType {
		return Presence{}, fmt.Errorf("discovery: decode presence: %w (%q)", ErrWrongType, w.Type)
	}
	p := Presence{
		NodeID: w.NodeID, GRPCPort: w.GRPCPort, Priority: DefaultPriority,
		Capabilities: Capabilities{
			Model: w.DeviceCapabilities.Model, Chip: w.DeviceCapabilities.Chip, MemoryMB: w.DeviceCapabilities.Memory,
			FP32: w.DeviceCapabilities.Flops.FP32, FP16: w.DeviceCapabilities.Flops.FP16, INT8: w.DeviceCapabilities.Flops.INT8,
		},
		InterfaceName: w.InterfaceName, InterfaceType: w.InterfaceType,
	}
	if w.Priority != nil {
		p.Priority = *w.Priority
	}
	if err := p.check(); err != nil {
		return Presence{}, fmt.Errorf("discovery: decode presence: %w", err)
	}
	// The canonical form can be longer than what arrived (an omitted
	// priority, characters JSON must escape); refuse what could not be
	// sent back.
	if enc, err := encode(p); err != nil || len(enc) > MaxDatagramSize {
		return Presence{}, fmt.Errorf("discovery: decode presence: %w once re-encoded", ErrTooLarge)
	}
	return p, nil
}
