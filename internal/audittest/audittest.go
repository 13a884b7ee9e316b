// Package audittest builds what tests compare against: a whole collected
// fleet classified at once (a run builds its snapshot a gateway at a
// time, with audit.Builder), and an auditor's results gathered.
package audittest

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
)

// Collection is what an audit gathered: one result per gateway, and the
// failures above the gateway level.
type Collection struct {
	Gateways []audit.GatewayResult
	Errors   []audit.ScopeError
}

// BuildSnapshot classifies the collected tokens and assembles a snapshot,
// as a run does: deterministic, gateways, tokens and errors sorted.
func BuildSnapshot(c Collection, ev audit.Evaluation) *audit.Snapshot {
	b := audit.NewBuilder(ev)
	for _, res := range c.Gateways {
		_ = b.Add(res)
	}
	return b.Finish(c.Errors)
}

// Collect audits one account's scope with api and gathers every result,
// sorted by gateway.
func Collect(ctx context.Context, a *fleet.Auditor, api fleet.API, sc audit.Scope) Collection {
	var c Collection
	c.Errors, _ = a.Walk(ctx, []fleet.Account{{API: api, Account: audit.Account{Scope: sc}}}, func(r audit.GatewayResult) { c.Gateways = append(c.Gateways, r) })
	slices.SortFunc(c.Gateways, func(x, y audit.GatewayResult) int { return cmp.Compare(x.Ref.Key(), y.Ref.Key()) })
	return c
}

// Credential is an access key credential, as the tests sign with.
func Credential(tb testing.TB, ak, secret string) credentials.Credential {
	tb.Helper()
	c, err := credentials.NewCredential(&credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(ak), AccessKeySecret: dara.String(secret)})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
