package emr

import (
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
)

// fleetStage serves a fleet from the emulator and counts the connections
// the client dials.
func fleetStage(t testing.TB, workspaces, gateways, tokens int, latency time.Duration) (*emulator.Server, string, *atomic.Int64) {
	emu := &emulator.Server{World: emulator.Fleet("cn-hangzhou", workspaces, gateways, tokens, time.Now()),
		Keys: map[string]emulator.Key{testAK: {Secret: testSecret}}, Latency: latency}
	srv, dials := emulator.Serve(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL, dials
}

// One bound on calls in flight for the whole run, discovery included; the
// connections are reused (dials stay near the concurrency, not near the
// number of calls).
func TestFleetConcurrencyAndConnections(t *testing.T) {
	t.Parallel()
	const concurrency = 6
	emu, url, dials := fleetStage(t, 30, 240, 5, 5*time.Millisecond)
	c, err := New(Options{Endpoint: url, Credential: staticCred(t, testAK, testSecret, ""), MaxConns: concurrency, PageSize: 10, Retries: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := &fleet.Auditor{Concurrency: concurrency, RatePerSecond: 1e6}
	col := audittest.Collect(t.Context(), a, c, audit.Scope{Regions: []string{"cn-hangzhou"}})
	if len(col.Gateways) != 240 || len(col.Errors) != 0 {
		t.Fatalf("got %d gateways and %v, want 240 and no error", len(col.Gateways), col.Errors)
	}
	calls := emu.Served() // 3 pages of workspaces, 30 workspaces, 240 gateways
	if calls != 273 {
		t.Errorf("got %d calls, want 273", calls)
	}
	if m := emu.MaxInFlight(); m > concurrency || m < concurrency-1 {
		t.Errorf("got %d calls in flight at most, want %d (the bound, used)", m, concurrency)
	}
	if d := dials.Load(); d > concurrency+2 {
		t.Errorf("the client dialed %d connections for %d calls; want about %d (one per slot)", d, calls, concurrency)
	}
}

// The rate is a promise: never more than ratePerSecond requests in any
// one-second window, per account and region. (How close the run comes to
// calls/rate is measured by BenchmarkFleetRate.)
func TestFleetRate(t *testing.T) {
	t.Parallel()
	const rps = 40
	emu, url, _ := fleetStage(t, 4, 60, 1, 0)
	c, err := New(Options{Endpoint: url, Credential: staticCred(t, testAK, testSecret, ""), MaxConns: 16, Retries: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := &fleet.Auditor{Concurrency: 16, RatePerSecond: rps}
	col := audittest.Collect(t.Context(), a, c, audit.Scope{Regions: []string{"cn-hangzhou"}})
	if len(col.Gateways) != 60 || emu.Served() != 65 {
		t.Fatalf("got %d gateways in %d calls, want 60 in 65", len(col.Gateways), emu.Served())
	}
	if most := emu.MaxInWindow(time.Second, true); most > arrivalBound(rps) {
		t.Errorf("%d requests in one one-second window, want at most %d", most, arrivalBound(rps))
	}
}

// arrivalBound is the most requests the stand-in may see arrive in one
// second at rps. The limiter admits at most rps in any one-second window
// (held exactly, on a virtual clock, by fleet's TestLimiterBound); the
// stand-in counts arrivals, which lag admissions by the signing and the
// loopback hop, unevenly with 16 calls on 2 cores under -race (62 at 60/s
// seen in CI): 5% of the rate is allowed for that spread.
func arrivalBound(rps int) int { return rps + max(1, rps/20) }

// Gateway details double the calls per gateway, within the same bound on
// calls in flight and the same rate; a gateway whose details fail is still
// audited, its exposure unknown.
func TestFleetDetails(t *testing.T) {
	t.Parallel()
	const concurrency, rps = 6, 60
	emu, url, _ := fleetStage(t, 3, 40, 2, 2*time.Millisecond)
	gws := emu.World.Regions["cn-hangzhou"].Workspaces[0].Gateways
	gws[0].EnablePublic = true
	gws[1].DetailsFail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "no GetLivyCompute"}
	c, err := New(Options{Endpoint: url, Credential: staticCred(t, testAK, testSecret, ""), MaxConns: concurrency, Retries: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := &fleet.Auditor{Concurrency: concurrency, RatePerSecond: rps, Details: true}
	col := audittest.Collect(t.Context(), a, c, audit.Scope{Regions: []string{"cn-hangzhou"}})
	if len(col.Gateways) != 40 || emu.Served() != 1+3+40+40 {
		t.Fatalf("got %d gateways in %d calls, want 40 in 84", len(col.Gateways), emu.Served())
	}
	public, failed := 0, 0
	for _, g := range col.Gateways {
		switch {
		case g.Err != nil || len(g.Tokens) != 2:
			t.Errorf("%s: not audited: %+v", g.Ref.GatewayID, g)
		case g.DetailsErr != nil:
			failed++
		case g.Details == nil:
			t.Errorf("%s: no details", g.Ref.GatewayID)
		case g.Details.Public:
			public++
		}
	}
	if public != 1 || failed != 1 {
		t.Errorf("%d public, %d with unknown exposure; want 1 and 1", public, failed)
	}
	if m := emu.MaxInFlight(); m > concurrency {
		t.Errorf("%d calls in flight, want at most %d", m, concurrency)
	}
	if most := emu.MaxInWindow(time.Second, true); most > arrivalBound(rps) {
		t.Errorf("%d requests in one one-second window, want at most %d", most, arrivalBound(rps))
	}
}
