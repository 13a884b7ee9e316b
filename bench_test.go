package main

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/emulator"
)

// BenchmarkCollect200Gateways audits 200 gateways (20 tokens each) in 10
// workspaces through the real client, signing and all, against the emulator
// on loopback, at the default concurrency.
func BenchmarkCollect200Gateways(b *testing.B) {
	w := &emulator.World{Regions: map[string]*emulator.Region{"cn-hangzhou": {}}}
	for i := range 10 {
		ws := &emulator.Workspace{ID: fmt.Sprintf("w-%02d", i), Name: fmt.Sprintf("ws%d", i)}
		for j := range 20 {
			g := &emulator.Gateway{ID: fmt.Sprintf("lc-%02d-%02d", i, j), Name: "gw", Status: "Running"}
			for k := range 20 {
				g.Tokens = append(g.Tokens, &emulator.Token{TokenID: fmt.Sprintf("tk-%d-%d-%d", i, j, k), Name: "t", Token: "lvt-SECRET",
					CreateTime: emulator.At(demoStart.Add(-90 * 24 * time.Hour))})
			}
			ws.Gateways = append(ws.Gateways, g)
		}
		w.Regions["cn-hangzhou"].Workspaces = append(w.Regions["cn-hangzhou"].Workspaces, ws)
	}
	srv := httptest.NewServer(&emulator.Server{World: w, Keys: map[string]emulator.Key{"AK": {Secret: "SK"}}})
	defer srv.Close()
	cred, _ := credentials.NewCredential(&credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String("AK"), AccessKeySecret: dara.String("SK")})
	client, err := emr.New(emr.Options{Endpoint: srv.URL, Credential: cred})
	if err != nil {
		b.Fatal(err)
	}
	a := &audit.Auditor{API: client, Concurrency: 8, RatePerSecond: 1e6}
	b.ResetTimer()
	for b.Loop() {
		col := a.Collect(b.Context(), audit.Scope{Regions: []string{"cn-hangzhou"}})
		if len(col.Gateways) != 200 || col.Gateways[0].Err != nil {
			b.Fatalf("got %d gateways, first error %v", len(col.Gateways), col.Gateways[0].Err)
		}
	}
}
