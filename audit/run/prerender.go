package run

import (
	"io"
	"os"
)

// prerendered is an artifact rendered ahead, into a temporary file, while
// the snapshot is written: the two renderings run on two cores, and the
// artifact is still stored only after its snapshot.
type prerendered struct {
	render func(w io.Writer) error
	done   chan struct{}
	f      *os.File // nil when no temporary file could be made
	size   int64
	err    error
}

// prerender starts rendering in the background.
func prerender(render func(w io.Writer) error) *prerendered {
	p := &prerendered{render: render, done: make(chan struct{})}
	f, err := os.CreateTemp("", "livy-audit-artifact-*")
	if err != nil {
		close(p.done) // rendered at Put time instead
		return p
	}
	p.f = f
	go func() {
		defer close(p.done)
		if p.err = render(f); p.err == nil {
			p.size, p.err = f.Seek(0, io.SeekCurrent)
		}
	}()
	return p
}

// content is the rendered artifact, from its start on every call (a store
// may call it again on a retry).
func (p *prerendered) content(w io.Writer) error {
	<-p.done
	if p.f == nil {
		return p.render(w)
	}
	if p.err != nil {
		return p.err
	}
	_, err := io.Copy(w, io.NewSectionReader(p.f, 0, p.size))
	return err
}

// close waits for the rendering and removes the temporary file.
func (p *prerendered) close() {
	<-p.done
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
	}
}
