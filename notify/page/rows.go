package page

import (
	"bufio"
	"cmp"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// Rows renders a page's token rows ahead of the page, gateway by gateway
// as the fleet is audited, into a temporary file: the rows are most of a
// large fleet's page, and rendering them while the audit waits on the
// network takes them off the end of the run. WritePage then only orders
// and copies them. Its memory is an index entry per token; the rows stay
// on disk.
type Rows struct {
	at    time.Time
	in    chan audit.GatewayReport
	done  chan struct{}
	f     *os.File
	index []rowEntry
	keys  map[string]int // tokens by gateway key
	err   error
}

// rowEntry locates one row in the spool, with what orders it.
type rowEntry struct {
	never   bool  // no expiry (sorted last)
	sec     int64 // the expiry, as seconds and nanoseconds
	nsec    int
	name    string
	tokenID string
	gateway string // the gateway's key, for the snapshot's own order on ties
	gwOrder int    // the gateway's place in the snapshot (set before sorting)
	token   int
	off     int64
	n       int64
}

// NewRows starts rendering the rows of a run audited at at. Its error is
// that of the temporary file; the page is then rendered whole, as without
// it.
func NewRows(at time.Time) (*Rows, error) {
	f, err := os.CreateTemp("", "livy-audit-rows-*")
	if err != nil {
		return nil, err
	}
	r := &Rows{at: at, in: make(chan audit.GatewayReport, 64), done: make(chan struct{}), f: f, keys: map[string]int{}}
	go r.render()
	return r, nil
}

// Add hands over a gateway as it is classified; a gateway handed over again
// (amended) replaces its earlier rows. Add is not safe for concurrent use.
func (r *Rows) Add(g audit.GatewayReport) { r.in <- g }

func (r *Rows) render() {
	defer close(r.done)
	cw := &countingWriter{w: r.f}
	rw := &rowWriter{w: bufio.NewWriterSize(cw, 64<<10), at: r.at}
	for g := range r.in {
		key := g.Ref().Key()
		if _, again := r.keys[key]; again {
			r.index = slices.DeleteFunc(r.index, func(e rowEntry) bool { return e.gateway == key })
		}
		r.keys[key] = len(g.Tokens)
		for i := range g.Tokens {
			t := &g.Tokens[i]
			off := cw.n + int64(rw.w.Buffered())
			rw.row(&g, t)
			e := rowEntry{name: t.Name, tokenID: t.TokenID, gateway: key, token: i, off: off, n: cw.n + int64(rw.w.Buffered()) - off}
			if t.ExpireTime != nil {
				e.sec, e.nsec = t.ExpireTime.Unix(), t.ExpireTime.Nanosecond()
			} else {
				e.never = true
			}
			r.index = append(r.index, e)
		}
	}
	r.err = rw.w.Flush()
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// finish waits for the rows handed over so far; no more may be added.
func (r *Rows) finish() error {
	select {
	case <-r.done:
	default:
		close(r.in)
		<-r.done
	}
	return r.err
}

// covers reports whether the rows are those of s: of its audit time, every
// gateway of s with as many tokens, and no other.
func (r *Rows) covers(s *audit.Snapshot) bool {
	if !r.at.Equal(s.AuditedAt) || len(r.keys) != len(s.Gateways) {
		return false
	}
	for i := range s.Gateways {
		if n, ok := r.keys[s.Gateways[i].Ref().Key()]; !ok || n != len(s.Gateways[i].Tokens) {
			return false
		}
	}
	return true
}

// writeTo copies the rows in the page's order: soonest expiry first (none
// last), then by name and ID, then in the snapshot's order.
func (r *Rows) writeTo(w *bufio.Writer, s *audit.Snapshot) error {
	order := make(map[string]int, len(s.Gateways))
	for i := range s.Gateways {
		order[s.Gateways[i].Ref().Key()] = i
	}
	for i := range r.index {
		r.index[i].gwOrder = order[r.index[i].gateway]
	}
	slices.SortFunc(r.index, func(a, b rowEntry) int {
		if a.never != b.never {
			if a.never {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), strings.Compare(a.name, b.name), strings.Compare(a.tokenID, b.tokenID),
			cmp.Compare(a.gwOrder, b.gwOrder), cmp.Compare(a.token, b.token))
	})
	// One read per row: reading the spool whole would be a little faster
	// and hold a copy of every row in memory at the end of the run.
	var buf []byte
	for _, e := range r.index {
		buf = slices.Grow(buf[:0], int(e.n))[:e.n]
		if _, err := r.f.ReadAt(buf, e.off); err != nil {
			return err
		}
		w.Write(buf)
	}
	return nil
}

// Close removes the temporary file.
func (r *Rows) Close() error {
	err := r.finish()
	return errors.Join(err, r.f.Close(), os.Remove(r.f.Name()))
}
