package run

import (
	"bufio"
	"errors"
	"io"
	"os"
	"slices"

	"livy-token-audit/audit"
)

// gatewaySpool encodes each gateway's part of the snapshot as soon as it is
// classified, while the fleet is still being audited, into a temporary
// file: writing the snapshot at the end is then mostly a copy. Its memory
// is an index entry per gateway.
type gatewaySpool struct {
	in   chan audit.GatewayReport
	done chan struct{}
	f    *os.File
	at   map[string]span // by gateway key
	err  error
}

type span struct {
	off, n int64
	tokens int
}

// newGatewaySpool starts a spool; nil when no temporary file can be made
// (the snapshot is then encoded at the end, as without it).
func newGatewaySpool() *gatewaySpool {
	f, err := os.CreateTemp("", "livy-audit-gateways-*")
	if err != nil {
		return nil
	}
	g := &gatewaySpool{in: make(chan audit.GatewayReport, 64), done: make(chan struct{}), f: f, at: map[string]span{}}
	go g.encode()
	return g
}

// Gateway hands over a classified gateway; one handed over again replaces
// the earlier (its span is the later one).
func (g *gatewaySpool) Gateway(gw audit.GatewayReport) { g.in <- gw }

// Render and Close make the spool a Rendering for collect; the snapshot is
// written from it by WriteWith.
func (g *gatewaySpool) Render(io.Writer, View) error { return nil }
func (g *gatewaySpool) Close()                       { g.close() }

func (g *gatewaySpool) encode() {
	defer close(g.done)
	var off int64
	cw := &counter{f: g.f}
	bw := bufio.NewWriterSize(cw, 64<<10)
	for gw := range g.in {
		start := cw.n + int64(bw.Buffered())
		if g.err = audit.EncodeGateway(bw, &gw); g.err != nil {
			return
		}
		off = cw.n + int64(bw.Buffered())
		g.at[gw.Ref().Key()] = span{off: start, n: off - start, tokens: len(gw.Tokens)}
	}
	g.err = bw.Flush()
}

type counter struct {
	f *os.File
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

// finish waits for every gateway handed over; no more may be.
func (g *gatewaySpool) finish() error {
	select {
	case <-g.done:
	default:
		close(g.in)
		<-g.done
	}
	return g.err
}

// encoded splices a gateway encoded ahead (see audit.EncodedGateway).
func (g *gatewaySpool) encoded() audit.EncodedGateway {
	if g == nil || g.finish() != nil {
		return nil
	}
	var buf []byte
	return func(w *bufio.Writer, gw *audit.GatewayReport) (bool, error) {
		sp, ok := g.at[gw.Ref().Key()]
		if !ok || sp.tokens != len(gw.Tokens) {
			return false, nil
		}
		buf = slices.Grow(buf[:0], int(sp.n))[:sp.n]
		if _, err := g.f.ReadAt(buf, sp.off); err != nil {
			return false, err
		}
		_, err := w.Write(buf)
		return true, err
	}
}

// close removes the temporary file.
func (g *gatewaySpool) close() {
	if g == nil {
		return
	}
	err := g.finish()
	_ = errors.Join(err, g.f.Close(), os.Remove(g.f.Name()))
}
