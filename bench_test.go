package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	c, err := emr.New(emr.Options{Endpoint: url, Credential: audittest.Credential(b, benchAK, benchSK), MaxConns: 32, Timeout: time.Minute, Retries: 0})
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
