package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/localstore"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
)

// The benchmarks of BENCHMARKS.md. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x
//
// They report ratios to the physical bound, not only times.

const benchAK, benchSK = "LTAI5tBenchKey01", "bench-secret-never-print"

// fleet serves gateways × 50 tokens (10 gateways a workspace) with latency
// per call, and returns the emulator, its URL and a dial counter.
func benchFleet(b *testing.B, gateways int, latency time.Duration, record bool) (*emulator.Server, string, *atomic.Int64) {
	b.Helper()
	emu := &emulator.Server{World: emulator.Fleet("cn-hangzhou", max(1, gateways/10), gateways, 50, demoStart),
		Keys: map[string]emulator.Key{benchAK: {Secret: benchSK}}, Latency: latency, NoRecord: !record}
	srv, dials := emulator.Serve(emu)
	b.Cleanup(srv.Close)
	return emu, srv.URL, dials
}

func benchCred(b *testing.B) credentials.Credential {
	c, err := credentials.NewCredential(&credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(benchAK), AccessKeySecret: dara.String(benchSK)})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// auditFleet runs whole audits (discovery, listing, classification) of the
// fleet through the real client, and reports the run's time against the
// latency bound ceil(calls/concurrency) × latency, or against calls/rate.
func auditFleet(b *testing.B, gateways, concurrency int, latency time.Duration, rps float64) {
	auditFleetWith(b, gateways, concurrency, latency, rps, false)
}

// auditFleetWith is auditFleet, with each gateway's details read (and the
// secret values measured) as a deployed run does.
func auditFleetWith(b *testing.B, gateways, concurrency int, latency time.Duration, rps float64, details bool) {
	emu, url, dials := benchFleet(b, gateways, latency, rps > 0)
	opts := emr.Options{Endpoint: url, Credential: benchCred(b), MaxConns: concurrency, Timeout: time.Minute}
	if details {
		key, err := audit.NewSecretKey()
		if err != nil {
			b.Fatal(err)
		}
		opts.SecretKey = key
	}
	c, err := emr.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	a := &fleet.Auditor{Concurrency: concurrency, RatePerSecond: cmp.Or(rps, 1e9), Details: details}
	accounts := []fleet.Account{{API: c, Account: audit.Account{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}}}}
	for b.Loop() {
		bl := audit.NewBuilder(audit.Evaluation{Now: demoStart, Policy: audit.DefaultPolicy()})
		errs, _ := a.Walk(b.Context(), accounts, func(r audit.GatewayResult) { bl.Add(r) })
		s := bl.Finish(errs)
		if s.Summary.Gateways != gateways || s.Summary.GatewaysFailed != 0 || s.Summary.Tokens != gateways*50 {
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

// BenchmarkFleetNoLatency is the 1,000-gateway fleet with no latency: what
// is left is the client's and the stand-in's CPU.
func BenchmarkFleetNoLatency(b *testing.B) { auditFleet(b, 1000, 32, 0, 0) }

// BenchmarkFleetRate is the 1,000-gateway fleet at ratePerSecond: 50.
func BenchmarkFleetRate(b *testing.B) { auditFleet(b, 1000, 32, 0, 50) }

// BenchmarkClassifyEncode classifies 100,000 tokens (2,000 gateways × 50),
// compares them with a baseline and streams the snapshot out: ns and
// allocations per token, and the peak heap.
func BenchmarkClassifyEncode(b *testing.B) {
	const gateways, per = 2000, 50
	results := make([]audit.GatewayResult, gateways)
	for g := range results {
		results[g].Ref = audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: fmt.Sprintf("w-%03d", g/10), GatewayID: fmt.Sprintf("lc-%05d", g)}
		for k := range per {
			results[g].Tokens = append(results[g].Tokens, audit.Token{ID: fmt.Sprintf("tk-%05d-%03d", g, k), Name: fmt.Sprintf("job-%d", k), CreatedBy: "user",
				CreateTime: demoStart.Add(-time.Duration(30+k) * 24 * time.Hour), LastUsedTime: demoStart.Add(-time.Duration(k%60) * 24 * time.Hour),
				ExpireTime: demoStart.Add(time.Duration(k%30) * 24 * time.Hour)})
		}
	}
	ev := audit.Evaluation{Now: demoStart, Policy: audit.DefaultPolicy()}
	base := audit.BaselineOf(audittest.BuildSnapshot(audittest.Collection{Gateways: results}, audit.Evaluation{Now: demoStart.Add(-24 * time.Hour), Policy: audit.DefaultPolicy()}))
	runtime.GC()
	var peak atomic.Uint64
	stop := sampleHeap(&peak)
	b.ReportAllocs()
	for b.Loop() {
		bl := audit.NewBuilder(ev)
		for _, r := range results {
			bl.Add(r)
		}
		s := bl.Finish(nil)
		audit.Compare(s, base, nil, 0)
		if err := s.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	stop()
	tokens := float64(gateways * per)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/tokens, "ns/token")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

// sampleHeap records the largest live heap until stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	return func() { close(done) }
}

// BenchmarkBinaryFleet runs the real binary (the CLI) over fleets of 50
// tokens a gateway at 20 ms per call, concurrency 32, writing the snapshot,
// latest.json and the baseline to a local folder: its wall time against the
// latency bound, and its peak RSS. 1,000 gateways are 50,000 tokens; 2,000
// are 100,000.
func BenchmarkBinaryFleet(b *testing.B) {
	for _, n := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("gateways=%d", n), func(b *testing.B) { binaryFleet(b, n) })
	}
}

func binaryFleet(b *testing.B, gateways int) {
	bin := buildBinary(b)
	emu, url, _ := benchFleet(b, gateways, 20*time.Millisecond, false)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "regions: [cn-hangzhou]\napi: {endpoint: %q, concurrency: 32, ratePerSecond: 1000000, timeout: 1m}\nsnapshot: {dir: %q}\n", url, filepath.Join(dir, "out")), 0o644); err != nil {
		b.Fatal(err)
	}
	var peak int64
	i := 0
	for b.Loop() {
		i++
		cmd := exec.Command(bin, "-config", cfg, "-now", demoStart.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
		cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + benchAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + benchSK, "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + dir}
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		p, err := runMeasuringPeakRSS(cmd)
		if code := cmd.ProcessState.ExitCode(); code != exitOK {
			b.Fatalf("exit %d (%v)", code, err)
		}
		peak = max(peak, p)
	}
	calls := float64(emu.Served()) / float64(b.N)
	bound := time.Duration(math.Ceil(calls/32)) * 20 * time.Millisecond
	b.ReportMetric((b.Elapsed()/time.Duration(b.N)).Seconds()/bound.Seconds(), "x-latency-bound")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkBinaryStartup measures the stripped binary's size and its
// start-up time under Function Compute: from exec to its first GET of
// /invocation/next.
func BenchmarkBinaryStartup(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "main")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfg, []byte("regions: [cn-hangzhou]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		first := make(chan struct{})
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			line, _ := bufio.NewReader(c).ReadString('\n')
			if strings.Contains(line, "/invocation/next") {
				close(first)
			}
		}()
		cmd := exec.Command(bin)
		cmd.Env = []string{"FC_RUNTIME_API=" + ln.Addr().String(), "AUDIT_CONFIG=" + cfg, "HOME=" + dir}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			b.Fatal("no /next within 10s")
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-to-first-next")
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		ln.Close()
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "stripped-MiB")
}

// BenchmarkRunVsLean is the whole run — discovery, listing through the
// real client, classification, comparison with the baseline, the snapshot,
// its page, latest.json, the baseline and the history written to a local
// folder — over 1,000 gateways × 50 tokens at 20 ms a call, concurrency
// 32, against a lean client that only lists and decodes (lean_test.go),
// both measured in the same run, one after the other, against the same
// stand-in: x-lean is the ratio of their times.
func BenchmarkRunVsLean(b *testing.B) {
	emu, url, _ := benchFleet(b, 1000, 20*time.Millisecond, false)
	c, err := emr.New(emr.Options{Endpoint: url, Credential: benchCred(b), MaxConns: 32, Timeout: time.Minute, Retries: 0})
	if err != nil {
		b.Fatal(err)
	}
	st := &localstore.Store{Dir: b.TempDir()}
	r := &auditrun.Runner{Tool: tool(), Policy: audit.DefaultPolicy(), Store: st, Artifacts: artifacts,
		Accounts: []fleet.Account{{API: c, Account: audit.Account{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}}}},
		Auditor:  &fleet.Auditor{Concurrency: 32, RatePerSecond: 1e9}}
	lean := newLeanClient(url, benchAK, benchSK, 32)
	var leanTime, runTime, runCPU, leanCPU time.Duration
	i := 0
	for b.Loop() {
		i++
		var lu0, lu1 syscall.Rusage
		syscall.Getrusage(0, &lu0)
		start := time.Now()
		n, err := lean.audit(b.Context(), "cn-hangzhou")
		if err != nil || n != 50000 {
			b.Fatalf("lean: %d tokens, %v", n, err)
		}
		leanTime += time.Since(start)
		syscall.Getrusage(0, &lu1)
		leanCPU += time.Duration(lu1.Utime.Nano() + lu1.Stime.Nano() - lu0.Utime.Nano() - lu0.Stime.Nano())
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(0, &ru0)
		start = time.Now()
		res, err := r.Run(b.Context(), auditrun.Options{Now: demoStart.Add(time.Duration(i) * time.Hour)})
		if err != nil || res.Snapshot.Summary.Tokens != 50000 || !res.MovedLatest {
			b.Fatalf("run: %v, %d tokens, moved %v", err, res.Snapshot.Summary.Tokens, res.MovedLatest)
		}
		runTime += time.Since(start)
		syscall.Getrusage(0, &ru1)
		runCPU += time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	}
	b.ReportMetric(runCPU.Seconds()/float64(b.N), "run-cpu-s/op")
	b.ReportMetric(leanCPU.Seconds()/float64(b.N), "lean-cpu-s/op")
	b.ReportMetric(leanTime.Seconds()/float64(b.N), "lean-s/op")
	b.ReportMetric(runTime.Seconds()/float64(b.N), "run-s/op")
	b.ReportMetric(runTime.Seconds()/leanTime.Seconds(), "x-lean")
	b.ReportMetric(float64(emu.Served())/float64(b.N)/2, "calls/op")
}
