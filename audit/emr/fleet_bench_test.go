package emr

import (
	"cmp"
	"fmt"
	"math"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
)

// The fleet's benchmarks of BENCHMARKS.md: the walk through this client
// against the EMR stand-in, with a fixed latency per call. Run them with
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime 1x ./audit/emr
//
// They report ratios to the physical bound, not only times.

const benchAK, benchSK = "LTAI5tBenchKey01", "bench-secret-never-print"

var demoStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// auditFleet runs whole audits (discovery, listing, classification) of the
// fleet through the real client, and reports the run's time against the
// latency bound ceil(calls/concurrency) × latency, or against calls/rate.
func auditFleet(b *testing.B, gateways, concurrency int, latency time.Duration, rps float64) {
	auditFleetWith(b, gateways, concurrency, latency, rps, false)
}

// auditFleetWith is auditFleet, with each gateway's details read (and the
// secret values measured) as a deployed run does.
func auditFleetWith(b *testing.B, gateways, concurrency int, latency time.Duration, rps float64, details bool) {
	auditFleetKinds(b, gateways, concurrency, latency, rps, details, false)
}

// auditFleetKinds is auditFleetWith; with kyuubi, each workspace also has
// as many Kyuubi services as Livy gateways, with as many tokens, listed
// within the same bound.
func auditFleetKinds(b *testing.B, gateways, concurrency int, latency time.Duration, rps float64, details, kyuubi bool) {
	world := emulator.Fleet("cn-hangzhou", max(1, gateways/10), gateways, 50, demoStart)
	kinds := 1
	if kyuubi {
		kinds = 2
		for _, ws := range world.Regions["cn-hangzhou"].Workspaces {
			for _, g := range ws.Gateways {
				k := *g
				k.ID = "kb" + g.ID[2:]
				ws.Kyuubi = append(ws.Kyuubi, &k)
			}
		}
	}
	emu := &emulator.Server{World: world,
		Keys: map[string]emulator.Key{benchAK: {Secret: benchSK}}, Latency: latency, NoRecord: rps == 0}
	srv, dials := emulator.Serve(emu)
	b.Cleanup(srv.Close)
	opts := Options{Endpoint: srv.URL, Credential: audittest.Credential(b, benchAK, benchSK), MaxConns: concurrency, Timeout: time.Minute}
	if details {
		key, err := audit.NewSecretKey()
		if err != nil {
			b.Fatal(err)
		}
		opts.SecretKey = key
	}
	c, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	a := &fleet.Auditor{Concurrency: concurrency, RatePerSecond: cmp.Or(rps, 1e9), Details: details}
	accounts := []fleet.Account{{API: c, Account: audit.Account{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}}}}
	if kyuubi {
		accounts[0].Sources = []fleet.Source{c, c.Kyuubi()}
	}
	for b.Loop() {
		bl := audit.NewBuilder(audit.Evaluation{Now: demoStart, Policy: audit.DefaultPolicy()})
		errs, _ := a.Walk(b.Context(), accounts, func(r audit.GatewayResult) { bl.Add(r) })
		s := bl.Finish(errs)
		if s.Summary.Gateways != kinds*gateways || s.Summary.GatewaysFailed != 0 || s.Summary.Tokens != kinds*gateways*50 {
			b.Fatalf("audited %d gateways (%d failed), %d tokens", s.Summary.Gateways, s.Summary.GatewaysFailed, s.Summary.Tokens)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	calls := float64(emu.Served()) / float64(b.N)
	b.ReportMetric(calls, "calls/op")
	b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
	b.ReportMetric(float64(emu.MaxInFlight()), "max-in-flight")
	if rps > 0 {
		b.ReportMetric(per.Seconds()/(calls/rps), "x-rate-bound")
		b.ReportMetric(float64(emu.MaxInWindow(time.Second, true)), "max-req/s-window")
		return
	}
	bound := time.Duration(math.Ceil(calls/float64(concurrency))) * latency
	b.ReportMetric(per.Seconds()/bound.Seconds(), "x-latency-bound")
}

// BenchmarkFleet: 10, 100 and 1,000 gateways × 50 tokens at 20 ms per call,
// concurrency 32; and the 1,000-gateway fleet with concurrency 1, the
// sequential script most teams write first.
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("gateways=%d/concurrency=32", n), func(b *testing.B) { auditFleet(b, n, 32, 20*time.Millisecond, 0) })
	}
	b.Run("gateways=1000/concurrency=1", func(b *testing.B) { auditFleet(b, 1000, 1, 20*time.Millisecond, 0) })
	// As deployed: each gateway's details read too (twice the calls) and
	// every secret value measured.
	b.Run("gateways=1000/concurrency=32/details", func(b *testing.B) { auditFleetWith(b, 1000, 32, 20*time.Millisecond, 0, true) })
}

// BenchmarkFleetKyuubi is the 1,000-gateway fleet with as many Kyuubi
// services beside its Livy gateways (2,000 gateways, 100,000 tokens), as
// deployed (details read): both kinds within the one bound.
func BenchmarkFleetKyuubi(b *testing.B) {
	auditFleetKinds(b, 1000, 32, 20*time.Millisecond, 0, true, true)
}

// BenchmarkFleetNoLatency is the 1,000-gateway fleet with no latency: what
// is left is the client's and the stand-in's CPU.
func BenchmarkFleetNoLatency(b *testing.B) { auditFleet(b, 1000, 32, 0, 0) }

// BenchmarkFleetRate is the 1,000-gateway fleet at ratePerSecond: 50.
func BenchmarkFleetRate(b *testing.B) { auditFleet(b, 1000, 32, 0, 50) }
