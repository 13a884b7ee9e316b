package page

import (
	"cmp"
	"fmt"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
)

// remediation is the page's remediation section: the line the Slack
// summary shows, a chart of findings opened and fixed per full audit, and
// the time to fix by severity and by owner.
type remediation struct {
	Days       int
	Line       string
	W, H, Base float64
	Bars       []remBar
	From, To   string
	Rows       []remRow
	AtLeast    bool
}

type remBar struct {
	X, Y, Width, Height float64
	Fill, Title         string
}

type remRow struct {
	By       string
	Resolved int
	P50, P90 string
}

// Colours of the chart: opened in the expired rule's colour, fixed in a
// green that reads on light and dark backgrounds.
const fixedColor = "#2e9e5b"

func remediationOf(r *audit.Remediation, line string) *remediation {
	if r == nil {
		return nil
	}
	const w, h = 900.0, 120.0
	out := &remediation{Days: int(audit.RemediationWindow / audit.Day), Line: line, W: w, H: h, Base: h / 2, AtLeast: r.AtLeast}
	most := 1
	for _, run := range r.Runs {
		most = max(most, run.Opened, run.Resolved)
	}
	if n := len(r.Runs); n > 0 {
		step := w / float64(n)
		bw := max(step*0.6, 1)
		for i, run := range r.Runs {
			x := float64(i)*step + (step-bw)/2
			at := run.AuditedAt.UTC().Format("Jan 2 15:04")
			if run.Opened > 0 {
				ht := float64(run.Opened) / float64(most) * (h/2 - 4)
				out.Bars = append(out.Bars, remBar{X: x, Y: h/2 - ht, Width: bw, Height: ht, Fill: audit.Info(audit.RuleExpired).Color,
					Title: fmt.Sprintf("%s: %d opened", at, run.Opened)})
			}
			if run.Resolved > 0 {
				ht := float64(run.Resolved) / float64(most) * (h/2 - 4)
				out.Bars = append(out.Bars, remBar{X: x, Y: h / 2, Width: bw, Height: ht, Fill: fixedColor, Title: fmt.Sprintf("%s: %d fixed", at, run.Resolved)})
			}
		}
		out.From, out.To = r.Runs[0].AuditedAt.UTC().Format("Jan 2"), r.Runs[n-1].AuditedAt.UTC().Format("Jan 2")
	}
	row := func(by string, p audit.Percentiles) remRow {
		al := map[bool]string{true: "at least ", false: ""}[p.AtLeast]
		return remRow{By: by, Resolved: p.Resolved, P50: al + hours(p.P50Hours), P90: al + hours(p.P90Hours)}
	}
	if p := r.TimeToResolve; p != nil {
		out.Rows = append(out.Rows, row("every finding", *p))
	}
	for _, p := range r.BySeverity {
		out.Rows = append(out.Rows, row(p.Severity, p))
	}
	for _, p := range r.ByOwner {
		out.Rows = append(out.Rows, row("owner "+cmp.Or(p.Owner, "unknown"), p))
	}
	return out
}

func hours(h float64) string { return audit.Span(time.Duration(h * float64(time.Hour))) }

// retireData is the page's section on the marks for deletion.
type retireData struct {
	Acted                     bool
	Scheduled, Retired, Ended []retireRow
	Held                      string
	Errors                    []string
}

type retireRow struct{ Name, Token, Where, Rule, Notice, Marked string }

func retireOf(d *notify.Digest) *retireData {
	rv := d.Retire
	if rv == nil || len(rv.Scheduled)+len(rv.Retired)+len(rv.Ended)+len(rv.Errors) == 0 && rv.Held == "" {
		return nil
	}
	rows := func(es []notify.RetireItem, notice func(notify.RetireItem) string) []retireRow {
		var out []retireRow
		for _, e := range es {
			out = append(out, retireRow{Name: audit.Truncate(e.Name(), notify.MaxNameChars), Token: audit.Truncate(e.TokenID, 200),
				Where: notify.GatewayLabel(*e.Gateway) + " / " + notify.WorkspaceLabel(*e.Gateway), Rule: string(e.Rule),
				Notice: audit.Truncate(d.Plain(notice(e)), 300), Marked: notify.RetireDate(e.MarkedAt)})
		}
		return out
	}
	return &retireData{Acted: rv.Acted, Scheduled: rows(rv.Scheduled, notify.RetireItem.Notice), Retired: rows(rv.Retired, notify.RetireItem.Notice),
		Ended: rows(rv.Ended, notify.RetireItem.EndText), Held: rv.Held, Errors: rv.Errors}
}
