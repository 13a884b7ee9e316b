package notify

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/internal/audittest"
)

// failSender refuses every report, as a Slack that answers 404 does.
type failSender struct{ recSender }

func (f *failSender) Send(context.Context, *Report) error { return errors.New("slack: no_service") }

// A notice of deletion is told when a delivered report carries it: the
// route's token, delivered, is told; the main report's, whose delivery
// failed, is not (and the route's token, which the main report does not
// carry, is told once); a report that only looks tells nothing.
func TestOutcomeToldIsWhatWasDelivered(t *testing.T) {
	t.Parallel()
	at := day0
	gw := func(id string) audit.GatewayRef {
		return audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: id}
	}
	unused := func(id string) audit.Token {
		return audit.Token{ID: id, Name: "job-" + id, CreatedBy: "bob", CreateTime: at.Add(-90 * audit.Day), ExpireTime: at.Add(200 * audit.Day)}
	}
	s := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{
		{Ref: gw("lc-main"), Tokens: []audit.Token{unused("tk-main")}},
		{Ref: gw("lc-team"), Tokens: []audit.Token{unused("tk-team")}},
	}}, audit.Evaluation{Now: at, Policy: audit.DefaultPolicy(), Scope: audit.ScopeReport{Regions: []string{"cn-hangzhou"}}})
	mark := func(g, tok string) audit.RetireEntry {
		return audit.RetireEntry{Stage: audit.StageMarked, RetireMark: audit.RetireMark{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: g, TokenID: tok,
			Rule: audit.RuleUnused, MarkedAt: at, DeleteOn: at.Add(14 * audit.Day), Notices: []string{audit.StageMarked}}}
	}
	s.Retire = &audit.RetireReport{Acted: true, Noticed: []audit.RetireEntry{mark("lc-main", "tk-main"), mark("lc-team", "tk-team")}}
	route := &recSender{}
	rt := &Router{Notify: "always", Main: &failSender{},
		Routes: []Route{{Destination: "slack:route:team", Name: "team", Notify: "always", Exclusive: true, Match: audit.Match{Gateways: []string{"lc-team"}}, Sender: route}}}
	d := &Dispatcher{Notifiers: []Notifier{rt}, Claims: &memClaims{objects: map[string][]byte{}}, Now: func() time.Time { return at }}
	run := delivery.Run{Key: audit.SnapshotKey(at), RunID: s.RunID}

	out := d.Report(t.Context(), run, s, delivery.Locations{})
	if want := []string{"cn-hangzhou/w-1/lc-team/tk-team"}; !slices.Equal(out.Told, want) || len(route.sent) != 1 || len(out.Errs) != 1 {
		t.Errorf("told %v (route sent %d, errors %v), want %v", out.Told, len(route.sent), out.Errs, want)
	}
	s.Retire.Acted = false
	if out := d.Report(t.Context(), delivery.Run{Key: audit.SnapshotKey(at.Add(audit.Day)), RunID: "other"}, s, delivery.Locations{}); len(out.Told) != 0 {
		t.Errorf("a run that only looks told %v", out.Told)
	}
}
