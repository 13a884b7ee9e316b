// Package metrics turns a run's snapshot into the figures a monitoring
// system watches — a heartbeat (audit_run) that an alarm can miss when the
// function never runs, and the counts of what the audit found — and writes
// them in the OpenMetrics text format (for Prometheus's textfile
// collector). notify/cloudmonitor sends the same figures to CloudMonitor.
//
// The figures' dimensions are the account and the region only (findings add
// the rule and the severity, a bounded set), so their number stays bounded
// whatever the fleet.
package metrics

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"livy-token-audit/audit"
)

// The figures' names.
const (
	Run              = "audit_run"           // 1 per run, by verdict
	GatewaysAudited  = "gateways_audited"    // by account and region
	GatewaysFailed   = "gateways_failed"     // by account and region
	Tokens           = "tokens"              // by account and region
	Findings         = "findings"            // active ones, by account, region, rule and severity
	MinHoursToExpiry = "min_hours_to_expiry" // the soonest expiry ahead, by account and region
	// The remediation figures, over the last 30 days of full audits
	// (summary.remediation), fleet-wide: no account or region.
	FindingsOpened      = "findings_opened"
	FindingsResolved    = "findings_resolved"
	RemediationHoursP50 = "remediation_hours_p50" // absent until a finding is fixed
	RemediationHoursP90 = "remediation_hours_p90"
)

// Fleetwide reports whether figures named name have no account or region
// (audit_run and the remediation figures).
func Fleetwide(name string) bool {
	switch name {
	case Run, FindingsOpened, FindingsResolved, RemediationHoursP50, RemediationHoursP90:
		return true
	}
	return false
}

// SelfAccount names the run's own account in a figure's account.
const SelfAccount = "self"

// Figure is one number a run reports.
type Figure struct {
	Name string
	// Account and Region are the figure's place (empty for audit_run).
	Account, Region string
	// Verdict is audit_run's; Rule and Severity a finding count's.
	Verdict  audit.Verdict
	Rule     audit.Rule
	Severity audit.Severity
	Value    float64
}

type place struct{ account, region string }

// Of returns the figures of snapshot s: audit_run, the remediation
// figures (with summary.remediation), then by account and
// region (sorted) the gateways audited and failed, the tokens, the active
// findings by rule and severity, and the hours to the soonest expiry ahead
// (absent when no token expires later).
func Of(s *audit.Snapshot) []Figure {
	out := []Figure{{Name: Run, Verdict: s.Verdict, Value: 1}}
	if r := s.Summary.Remediation; r != nil {
		out = append(out, Figure{Name: FindingsOpened, Value: float64(r.Opened)}, Figure{Name: FindingsResolved, Value: float64(r.Resolved)})
		if p := r.TimeToResolve; p != nil {
			out = append(out, Figure{Name: RemediationHoursP50, Value: p.P50Hours}, Figure{Name: RemediationHoursP90, Value: p.P90Hours})
		}
	}
	type counts struct {
		audited, failed, tokens int
		findings                map[[2]string]int // rule, severity
		soonest                 float64
	}
	by := map[place]*counts{}
	at := func(account, region string) *counts {
		p := place{cmp.Or(account, SelfAccount), region}
		c, ok := by[p]
		if !ok {
			c = &counts{findings: map[[2]string]int{}, soonest: math.Inf(1)}
			by[p] = c
		}
		return c
	}
	for _, g := range s.Gateways {
		c := at(g.AccountID, g.Region)
		if g.Error != nil {
			c.failed++
			continue
		}
		c.audited++
		for _, t := range g.Tokens {
			c.tokens++
			for _, f := range t.Findings {
				c.findings[[2]string{string(f.Rule), f.Severity.String()}]++
			}
			if t.ExpireTime != nil && t.ExpireTime.After(s.AuditedAt) {
				c.soonest = min(c.soonest, t.ExpireTime.Sub(s.AuditedAt).Hours())
			}
		}
	}
	for _, e := range s.Errors {
		if e.Region != "" {
			at(e.AccountID, e.Region) // a region whose listing failed still reports its (zero) counts
		}
	}
	places := make([]place, 0, len(by))
	for p := range by {
		places = append(places, p)
	}
	slices.SortFunc(places, func(a, b place) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region))
	})
	for _, p := range places {
		c := by[p]
		f := func(name string, v float64) Figure {
			return Figure{Name: name, Account: p.account, Region: p.region, Value: v}
		}
		out = append(out, f(GatewaysAudited, float64(c.audited)), f(GatewaysFailed, float64(c.failed)), f(Tokens, float64(c.tokens)))
		keys := make([][2]string, 0, len(c.findings))
		for k := range c.findings {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			return cmp.Or(cmp.Compare(audit.Order(audit.Rule(a[0])), audit.Order(audit.Rule(b[0]))), cmp.Compare(a[1], b[1]))
		})
		for _, k := range keys {
			sev, _ := audit.ParseSeverity(k[1])
			fig := f(Findings, float64(c.findings[k]))
			fig.Rule, fig.Severity = audit.Rule(k[0]), sev
			out = append(out, fig)
		}
		if !math.IsInf(c.soonest, 1) {
			out = append(out, f(MinHoursToExpiry, math.Round(c.soonest*100)/100))
		}
	}
	return out
}

// Prefix names the OpenMetrics families: livy_token_audit_run, ….
const Prefix = "livy_token_audit_"

var help = map[string]string{
	Run:                 "1 per run of the audit, by its verdict (complete, partial, failed): alarm when none comes",
	GatewaysAudited:     "Livy Gateways audited",
	GatewaysFailed:      "Livy Gateways that could not be audited",
	Tokens:              "tokens audited",
	Findings:            "active findings, by rule and severity",
	MinHoursToExpiry:    "hours to the soonest token expiry ahead",
	FindingsOpened:      "findings opened in the last 30 days of full audits",
	FindingsResolved:    "findings fixed (the finding ended or its token was deleted) in the last 30 days",
	RemediationHoursP50: "median hours from a finding's first sighting to its fix, over the last 30 days",
	RemediationHoursP90: "90th percentile of the hours from a finding's first sighting to its fix, over the last 30 days",
}

// WriteOpenMetrics writes the figures as OpenMetrics text (gauges, one
// family per name, then # EOF), with expfmt's encoder.
func WriteOpenMetrics(w io.Writer, figs []Figure) error {
	var order []string
	families := map[string]*dto.MetricFamily{}
	for _, f := range figs {
		fam, ok := families[f.Name]
		if !ok {
			name := Prefix + f.Name
			if f.Name == Run {
				name = Prefix + "run"
			}
			fam = &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help[f.Name]), Type: dto.MetricType_GAUGE.Enum()}
			families[f.Name] = fam
			order = append(order, f.Name)
		}
		m := &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(f.Value)}}
		label := func(k, v string) {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(k), Value: proto.String(v)})
		}
		switch {
		case f.Name == Run:
			label("verdict", string(f.Verdict))
		case Fleetwide(f.Name):
		default:
			label("account", f.Account)
			label("region", f.Region)
		}
		if f.Name == Findings {
			label("rule", string(f.Rule))
			label("severity", f.Severity.String())
		}
		fam.Metric = append(fam.Metric, m)
	}
	for _, n := range order {
		if _, err := expfmt.MetricFamilyToOpenMetrics(w, families[n]); err != nil {
			return fmt.Errorf("openmetrics: %w", err)
		}
	}
	if _, err := expfmt.FinalizeOpenMetrics(w); err != nil {
		return fmt.Errorf("openmetrics: %w", err)
	}
	return nil
}
