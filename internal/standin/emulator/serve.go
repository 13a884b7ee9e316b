package emulator

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// Serve starts h on loopback and counts the connections its clients open
// (a client that reuses its connections opens few). Close the server when
// done.
func Serve(h http.Handler) (srv *httptest.Server, dials *atomic.Int64) {
	dials = new(atomic.Int64)
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	return srv, dials
}
