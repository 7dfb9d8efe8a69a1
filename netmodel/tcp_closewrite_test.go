package netmodel_test

import (
	"io"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
)

// TestCloseWriteHalfCloses: after CloseWrite the peer reads the data, then
// EOF, and can still send; this side still reads, and its writes fail; a
// Close once both sides are done is clean (no reset).
func TestCloseWriteHalfCloses(t *testing.T) {
	l := newLAN(t, sim.Options{Seed: 1, CheckLeaks: true}, netmodel.Options{}, netmodel.Link{Latency: netmodel.Constant(time.Millisecond)})
	l.run(t, func() {
		client, server, _ := pair(t, l)
		_, err := client.Write([]byte("request"))
		assert.NoError(t, err)
		assert.NoError(t, client.(interface{ CloseWrite() error }).CloseWrite())
		assert.NoError(t, client.(interface{ CloseWrite() error }).CloseWrite(), "a second CloseWrite does nothing")
		_, err = client.Write([]byte("more"))
		assert.ErrorContains(t, err, "broken pipe", "write after CloseWrite")

		got, err := io.ReadAll(server)
		assert.NoError(t, err)
		assert.Equal(t, "request", string(got))
		_, err = server.Write([]byte("reply"))
		assert.NoError(t, err, "the peer can still send")
		assert.NoError(t, server.Close())

		got, err = io.ReadAll(client)
		assert.NoError(t, err, "no reset: everything was read")
		assert.Equal(t, "reply", string(got))
		assert.NoError(t, client.Close())
	})
}
