// Package page renders the report page written beside each snapshot: one
// self-contained HTML file (no external script, font or image; it works
// offline and declares its own strict Content-Security-Policy, which lets
// in only its inline style and script by their hashes), built with
// html/template so that every name is escaped. It leads with what to do:
// the tokens that need action, the most severe first and then the soonest
// to break, and what changed, named token by token. Then the coverage in the
// words of the Slack report, the failures and lapsed suppressions, a
// timeline of the expiries of the next 90 days, the trend of findings over
// the last full audits, and a table of every token, which a few lines of
// script make sortable and filterable — without them it is a plain table,
// sorted by expiry.
package page

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
)

// Page renders pages.
type Page struct {
	// Rows, when set, holds the token rows rendered ahead (NewRows); they
	// are used when they are the rows of the snapshot rendered.
	Rows *Rows
}

var css = `:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#6e6e73;--bg:#fff;--line:#d2d2d7;--bad:#b3261e;--warn:#8a5a00;--ok:#1b6e3a}
@media (prefers-color-scheme:dark){:root{--fg:#f5f5f7;--muted:#a1a1a6;--bg:#1d1d1f;--line:#424245;--bad:#ff6b60;--warn:#ffb340;--ok:#5fd38a}}
*{box-sizing:border-box}body{margin:0 auto;max-width:1200px;padding:16px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5em;margin:0 0 4px}.headcounts{font-weight:600}h2{font-size:1.1em;margin:24px 0 8px}p{margin:4px 0}.muted{color:var(--muted)}
.banner{padding:10px 12px;border-radius:8px;font-weight:600;margin:12px 0}.banner.failed{background:var(--bad);color:#fff}.banner.partial{border:2px solid var(--warn);color:var(--warn)}
.alert{border-left:4px solid var(--bad);padding:4px 12px;margin:16px 0}.alert.lapsed{border-color:var(--warn)}.alert ul{margin:4px 0;padding-left:18px}
.counts span{display:inline-block;margin-right:12px}svg{width:100%;height:auto;max-width:100%}svg text{font-size:11px;fill:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:top}
td.name{white-space:normal;min-width:10em}#tokens td:nth-child(4),#tokens td:nth-child(10){white-space:normal;min-width:8em}th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer}th[aria-sort=ascending] button::after{content:" \25B2"}th[aria-sort=descending] button::after{content:" \25BC"}
#filter{width:100%;max-width:420px;padding:8px;margin:4px 0 8px;font:inherit;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
.f{display:inline-block;padding:0 6px;margin:1px 2px;border-radius:10px;font-size:12px;border:1px solid currentColor;white-space:nowrap}.s-critical,.s-high{color:var(--bad)}.s-medium{color:var(--warn)}.s-low{color:var(--muted)}.f.sup{opacity:.55;text-decoration:line-through}
.f.s-critical{background:var(--bad);border-color:var(--bad);color:var(--bg);font-weight:700}.f.s-critical::before{content:"!! "}.f.s-high{border-width:2px;font-weight:700}.f.s-high::before{content:"! "}.f.s-low{border-style:dashed}
` + ruleCSS + `
footer{margin-top:24px;font-size:12px;color:var(--muted)}
ol.act{margin:4px 0;padding-left:22px}ol.act li{margin:4px 0}.act .what{color:var(--muted)}.act .do{font-weight:600}
svg.narrow{display:none}.sparks{display:grid;grid-template-columns:minmax(8em,max-content) minmax(0,1fr) max-content;gap:2px 12px;align-items:center;max-width:760px}
.spark{display:contents}.spark svg{height:32px;width:100%}.spark .last{font-variant-numeric:tabular-nums}
@media (max-width:760px){svg.wide{display:none}svg.narrow{display:block}}
@media (max-width:640px){body{padding:10px;font-size:14px}h1{font-size:1.25em}th,td{padding:5px 6px}
.scroll{overflow-x:visible}#tokens thead{display:none}#tokens,#tokens tbody,#tokens tr,#tokens td{display:block;width:100%}
#tokens tr{border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:6px 10px}#tokens tr[hidden]{display:none}
#tokens td{border:0;padding:2px 0;white-space:normal;overflow-wrap:anywhere}#tokens td::before{color:var(--muted);font-size:12px;display:inline-block;min-width:6.5em}
#tokens td:nth-child(1),#tokens td:nth-child(7){display:none}#tokens td:nth-child(2)::before{content:"Region"}#tokens td.name{font-weight:600}
#tokens td:nth-child(3)::before{content:"Workspace"}#tokens td:nth-child(4)::before{content:"Gateway"}#tokens td:nth-child(6)::before{content:"Owner"}
#tokens td:nth-child(8)::before{content:"Expires"}#tokens td:nth-child(9)::before{content:"Last used"}#tokens td:nth-child(10)::before{content:"Findings"}
#tokens td br{display:none}#tokens td .muted{margin-left:6px}}`

// ruleCSS colours each rule (the trend's legend) from the rule table.
var ruleCSS = func() string {
	var b strings.Builder
	for _, r := range audit.RuleTable() {
		fmt.Fprintf(&b, ".r-%s{color:%s}", r.ID, r.Color)
	}
	return b.String()
}()

const js = `(function(){var t=document.getElementById("tokens");if(!t)return;var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows),f=document.getElementById("filter");
f.hidden=false;f.addEventListener("input",function(){var q=f.value.toLowerCase();rows.forEach(function(r){r.hidden=q!==""&&r.textContent.toLowerCase().indexOf(q)<0;});});
var ths=t.tHead.rows[0].cells;function key(c){var v=c.getAttribute("data-sort");return v!==null?v:c.textContent.toLowerCase();}
Array.prototype.forEach.call(ths,function(th,i){var b=document.createElement("button");b.type="button";b.textContent=th.textContent;th.textContent="";th.appendChild(b);
b.addEventListener("click",function(){var asc=th.getAttribute("aria-sort")!=="ascending";Array.prototype.forEach.call(ths,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",asc?"ascending":"descending");rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);return (x<y?-1:x>y?1:0)*(asc?1:-1);});
rows.forEach(function(r){tb.appendChild(r);});});});})();`

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// csp lets in the page's own style and script, and nothing else.
var csp = "default-src 'none'; style-src " + hash(css) + "; script-src " + hash(js) + "; img-src 'none'; base-uri 'none'; form-action 'none'"

var src = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<title>{{.Headline}} · {{.S.RunID}}</title>
<style>` + css + `</style>
</head>
<body>
<header>
<h1>{{.Headline}}</h1>
{{- if ne .S.Verdict "failed"}}
<p class="counts headcounts">{{.Counts}}</p>
{{- end}}
<p class="coverage">{{.Coverage}}</p>
{{- if eq .S.Verdict "failed"}}
<p class="banner failed">Audit failed: {{.S.Summary.FailedCoverage}}. Nothing below is an all-clear.</p>
{{- else if eq .S.Verdict "partial"}}
<p class="banner partial">Partial audit: {{len .Failures}} gateway(s) or listing(s) could not be audited; their tokens are not in this report.</p>
{{- end}}
{{- with .Changes}}<p class="muted">{{.}}</p>{{end}}
{{- with .Overdue}}<p class="banner partial">{{.}}</p>{{end}}
{{- range .ActionsWarnings}}<p class="banner partial">Actions from Slack: {{.}}</p>{{end}}
</header>
{{- if .Actions}}
<section id="actions">
<h2>Needs action — {{len .Actions}}{{if .MoreActions}} of {{.ActionsTotal}}{{end}} <span class="muted">(most severe first, then the soonest to break)</span></h2>
<ol class="act">{{range .Actions}}<li data-token="{{.TokenID}}"><span class="f s-{{.Severity}}">{{.Severity}}</span> <strong>{{.Name}}</strong> <span class="muted">{{.TokenID}}</span>{{with .Fix}} · <span class="do">{{.}}</span>{{end}} · <span class="what">{{.Rule}}: {{.What}}</span> · {{.Where}} · owner {{.Owner}}{{with .Also}} <span class="muted">(also {{.}})</span>{{end}}</li>{{end}}</ol>
{{- if .MoreActions}}<p class="muted">and {{.MoreActions}} more in the table below.</p>{{end}}
</section>
{{- end}}
{{- if .ChangeLines}}
<section id="changes">
<h2>What changed — {{len .ChangeLines}}{{if .MoreChanges}} of {{.ChangesTotal}}{{end}}</h2>
<ul>{{range .ChangeLines}}<li>{{.}}</li>{{end}}</ul>
{{- if .MoreChanges}}<p class="muted">and {{.MoreChanges}} more in the snapshot.</p>{{end}}
</section>
{{- end}}
{{- if .Failures}}
<section class="alert failures" id="failures">
<h2>Not audited — {{len .Failures}}</h2>
<ul>{{range .Failures}}<li><strong>{{.Where}}</strong>: <code>{{.Code}}</code> {{.Message}}{{with .RequestID}} <span class="muted">(request id {{.}})</span>{{end}}</li>{{end}}</ul>
</section>
{{- end}}
{{- if .Lapsed}}
<section class="alert lapsed" id="lapsed">
<h2>Lapsed suppressions — {{len .Lapsed}} (no longer applied: renew or remove them)</h2>
<ul>{{range .Lapsed}}<li>{{.Label}}: {{.Reason}}</li>{{end}}</ul>
</section>
{{- end}}
{{- if .Recent}}
<section id="slack-actions">
<h2>Recent actions from Slack — {{.RecentTotal}}{{if gt .RecentTotal (len .Recent)}} <span class="muted">(the latest {{len .Recent}}; all in the snapshot's actions)</span>{{end}}</h2>
<ul>{{range .Recent}}<li>{{.At}} · {{.By}} · {{.Verb}} <strong>{{.Name}}</strong> <code>{{.Token}}</code> · {{.Outcome}}{{with .Detail}}: {{.}}{{end}}</li>{{end}}</ul>
</section>
{{- end}}
{{- with .Retire}}
<section class="alert" id="retire">
<h2>Scheduled for deletion — {{len .Scheduled}}{{if not .Acted}} <span class="muted">(this run only looks: nothing is marked or deleted)</span>{{end}}</h2>
{{- if .Scheduled}}<ul>{{range .Scheduled}}<li><strong>{{.Name}}</strong> <code>{{.Token}}</code> · {{.Where}} · {{.Rule}} · {{.Notice}}</li>{{end}}</ul>{{end}}
{{- if .Retired}}<p>Retired {{len .Retired}} token(s):</p><ul>{{range .Retired}}<li><strong>{{.Name}}</strong> <code>{{.Token}}</code> · {{.Where}} · {{.Rule}} · marked {{.Marked}}</li>{{end}}</ul>{{end}}
{{- if .Ended}}<p>Deletion cancelled:</p><ul>{{range .Ended}}<li><strong>{{.Name}}</strong> <code>{{.Token}}</code> · {{.Where}} · {{.Notice}}</li>{{end}}</ul>{{end}}
{{- with .Held}}<p><strong>Not retired:</strong> {{.}}</p>{{end}}
{{- if .Errors}}<ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul>{{end}}
</section>
{{- end}}
{{- if .Reused}}
<section class="alert" id="reused">
<h2>Reused secrets — {{len .Reused}} group(s) of tokens that share one secret value (a leak of one is a leak of all)</h2>
<ul>{{range .Reused}}<li>{{.}}</li>{{end}}</ul>
</section>
{{- end}}
<section id="timeline">
<h2>Expiries in the next 90 days — {{.Timeline.Total}}{{if .Timeline.Expired}} <span class="muted">({{.Timeline.Expired}} already expired)</span>{{end}}</h2>
{{- range .Timelines}}
<svg class="{{.Class}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="Tokens expiring per day over the next 90 days">
<line x1="0" y1="{{.Base}}" x2="{{.W}}" y2="{{.Base}}" stroke="currentColor" stroke-opacity=".3"/>
{{- range .Bars}}
<rect x="{{.X}}" y="{{.Y}}" width="{{.Width}}" height="{{.Height}}" fill="{{$.ExpiringColor}}"><title>{{.Title}}</title></rect>
{{- end}}
{{- range .Ticks}}
<text x="{{.X}}" y="{{.Y}}">{{.Label}}</text>
{{- end}}
</svg>
{{- end}}
</section>
<section id="trend">
<h2>Findings over the last {{len .Trend.Runs}} full audit(s)</h2>
{{- if not .Trend.Lines}}
<p class="muted">Not enough runs yet: the trend starts once two full audits have counted the same finding.</p>
{{- else}}
<div class="sparks">
{{- range .Trend.Lines}}
<div class="spark"><span class="r-{{.Rule}}">■ {{.Title}}</span><svg viewBox="0 0 {{$.Trend.W}} {{$.Trend.H}}" preserveAspectRatio="none" role="img" aria-label="{{.Title}} over the last {{len $.Trend.Runs}} full audits"><polyline points="{{.Points}}" fill="none" stroke="{{.Color}}" stroke-width="2" vector-effect="non-scaling-stroke"><title>{{.Series}}</title></polyline></svg><span class="last">{{.Last}}{{with .Delta}} <span class="muted">({{.}})</span>{{end}}</span></div>
{{- end}}
</div>
<p class="muted">{{.Trend.From}} to {{.Trend.To}}, one point per full audit, on one scale (max {{.Trend.Max}}).{{with .Trend.Single}} Counted in one audit only, so not drawn: {{.}}.{{end}}</p>
{{- end}}
</section>
{{- with .Remediation}}
<section id="remediation">
<h2>Remediation — the last {{.Days}} days</h2>
<p>{{.Line}}</p>
{{- if .Bars}}
<svg class="remediation" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="Findings opened (above the line) and fixed (below) per full audit">
<line x1="0" y1="{{.Base}}" x2="{{.W}}" y2="{{.Base}}" stroke="currentColor" stroke-opacity=".3"/>
{{- range .Bars}}
<rect x="{{.X}}" y="{{.Y}}" width="{{.Width}}" height="{{.Height}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{- end}}
</svg>
<p class="muted">Per full audit: opened above the line, fixed below ({{.From}} to {{.To}}).</p>
{{- end}}
{{- if .Rows}}
<table class="small"><thead><tr><th>Time to fix</th><th>Fixed</th><th>Median</th><th>90th percentile</th></tr></thead><tbody>
{{- range .Rows}}<tr><td>{{.By}}</td><td>{{.Resolved}}</td><td>{{.P50}}</td><td>{{.P90}}</td></tr>{{end}}
</tbody></table>
{{- end}}
{{- if .AtLeast}}<p class="muted">Some findings were first seen before the history kept here: their times are at least what is shown.</p>{{end}}
</section>
{{- end}}
<section id="table">
<h2>Tokens — {{.Tokens}}</h2>
<input id="filter" type="search" placeholder="Filter by any column…" aria-label="Filter tokens" hidden>
<div class="scroll">
<table id="tokens">
<thead><tr><th>Account</th><th>Region</th><th>Workspace</th><th>Gateway</th><th>Name</th><th>Owner</th><th>Created</th><th>Expires</th><th>Last used</th><th>Findings</th></tr></thead>
<tbody>
{{template "rows" .}}</tbody>
</table>
</div>
</section>
<footer>{{.S.Tool.Name}} {{.S.Tool.Version}} · run {{.S.RunID}} · audited {{.AuditedAt}}{{with .Snapshot}} · snapshot {{.}}{{end}}</footer>
<script>` + js + `</script>
</body>
</html>
`

// The page is a template in two parts, around the table's rows: a fleet
// has up to 100,000 tokens, and rows written by a template would take
// seconds and a few hundred MB; they are written by writeRows instead,
// each value escaped with template.HTMLEscapeString.
const rowsMarker = `{{template "rows" .}}`

var headTmpl, tailTmpl = func() (*template.Template, *template.Template) {
	head, tail, ok := strings.Cut(src, rowsMarker)
	if !ok {
		panic("page: no rows marker")
	}
	return template.Must(template.New("head").Parse(head)), template.Must(template.New("tail").Parse(tail))
}()

type bar struct {
	X, Y, Width, Height float64
	Title               string
}

type tick struct {
	X, Y  float64
	Label string
}

type timeline struct {
	Class          string // wide or narrow (a phone's)
	W, H, Base     float64
	Bars           []bar
	Ticks          []tick
	Total, Expired int
}

// line is one rule's series in the trend, drawn on a chart of its own (a
// series never hides another).
type line struct {
	Rule, Title, Color, Points string
	// Series says each point ("Nov 27: 3, Nov 28: 1").
	Series string
	Last   int
	// Delta is the change since the previous full audit ("+2", "−1"; ""
	// unchanged).
	Delta string
}

type trend struct {
	W, H     float64
	Runs     []audit.HistoryEntry
	Lines    []line
	From, To string
	Max      int
	// Single names the rules counted in one audit only: one point, no line.
	Single string
}

type lapsedItem struct{ Label, Reason string }

// recentAction is an action from Slack as the page lists it.
type recentAction struct{ At, By, Verb, Name, Token, Outcome, Detail string }

// maxRecent is how many actions from Slack the page lists, the latest
// first.
const maxRecent = 20

func recentActions(d *notify.Digest) []recentAction {
	var out []recentAction
	s := d.Snapshot
	for i := len(s.Actions) - 1; i >= 0 && len(out) < maxRecent; i-- {
		a := s.Actions[i]
		out = append(out, recentAction{At: notify.AuditedAt(a.At), By: d.User(a.By), Verb: a.Verb, Name: audit.Truncate(a.Name, notify.MaxNameChars),
			Token: audit.Truncate(a.Token, 200), Outcome: a.Outcome, Detail: audit.Truncate(d.Plain(a.Detail), 300)})
	}
	return out
}

type data struct {
	CSP, Headline, Coverage, Counts, Changes, Overdue, AuditedAt, Snapshot string
	ActionsWarnings                                                        []string
	// ExpiringColor is the expiring rule's colour (the rule table's), for
	// the expiries' bars.
	ExpiringColor             string
	S                         *audit.Snapshot
	Failures                  []notify.Failure
	Lapsed                    []lapsedItem
	Recent                    []recentAction
	RecentTotal               int
	Reused                    []string
	Timeline                  timeline
	Timelines                 []timeline // wide, then narrow
	Trend                     trend
	Tokens                    int
	Actions                   []action
	MoreActions, ActionsTotal int
	ChangeLines               []string
	MoreChanges, ChangesTotal int
	Remediation               *remediation
	Retire                    *retireData
}

// WritePage writes the page of a run's digest; history is the last full
// audits, oldest first, for the trend.
func (p Page) WritePage(w io.Writer, dg *notify.Digest, history []audit.HistoryEntry) error {
	s := dg.Snapshot
	d := data{CSP: csp, S: s, Coverage: dg.CoverageLine, Counts: dg.Counts,
		AuditedAt: notify.AuditedAt(s.AuditedAt), Snapshot: dg.Locations.Snapshot, Failures: dg.Failures}
	d.Headline = headline(dg)
	if c := s.Changes; c != nil {
		switch {
		case c.Previous != nil:
			d.Changes = "Since " + notify.AuditedAt(c.Previous.AuditedAt) + ": " + dg.ChangeCounts
		case c.PreviousError != "":
			d.Changes = "Changes: the previous snapshot was unusable (" + c.PreviousError + "); compared as a first run"
		default:
			d.Changes = "Changes: first audit (no previous snapshot to compare with)"
		}
		if c.Overdue != nil {
			d.Overdue = c.Overdue.Message
		}
	}
	for _, sup := range dg.Lapsed {
		reason := dg.Plain(sup.Reason)
		if n := notify.EndedNote(sup); n != "" {
			reason += " (" + n + ")"
		}
		d.Lapsed = append(d.Lapsed, lapsedItem{notify.SuppressionLabel(sup), reason})
	}
	for _, g := range s.Gateways {
		d.Tokens += len(g.Tokens)
	}
	d.Recent, d.RecentTotal = recentActions(dg), len(s.Actions)
	d.ActionsWarnings = dg.ActionsWarnings
	d.ExpiringColor = audit.Info(audit.RuleExpiring).Color
	d.Reused = reuseGroups(dg)
	d.Actions, d.MoreActions = actions(dg)
	d.ActionsTotal = len(d.Actions) + d.MoreActions
	d.ChangeLines, d.MoreChanges = changeLines(dg)
	d.ChangesTotal = len(d.ChangeLines) + d.MoreChanges
	d.Timeline = expiries(s, 900, 15)
	d.Timelines = []timeline{d.Timeline, expiries(s, 360, 30)}
	d.Timelines[0].Class, d.Timelines[1].Class = "wide", "narrow"
	d.Trend = trendOf(history)
	if dg.Remediation != "" {
		d.Remediation = remediationOf(s.Summary.Remediation, dg.Remediation)
	}
	d.Retire = retireOf(dg)
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := headTmpl.Execute(bw, d); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	if p.Rows != nil && p.Rows.finish() == nil && p.Rows.covers(s) {
		if err := p.Rows.writeTo(bw, s); err != nil {
			return fmt.Errorf("page: %w", err)
		}
	} else {
		writeRows(bw, s)
	}
	if err := tailTmpl.Execute(bw, d); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	return nil
}

// headline is the page's title, short enough for one line on a phone:
// what needs doing, or that nothing does; the counts follow it.
func headline(d *notify.Digest) string {
	s := d.Snapshot
	switch {
	case s.Verdict == audit.VerdictFailed:
		return "Livy token audit · failed"
	case s.Summary.Gateways == 0 && s.Summary.Errors == 0:
		return "Livy token audit · 0 gateways found"
	case len(d.NeedsAction) == 0:
		return "Livy token audit · nothing to act on"
	}
	return fmt.Sprintf("Livy token audit · %d to act on", len(d.NeedsAction))
}

// reuseGroups describes each group of tokens that share a secret: "2
// tokens share one secret: trainer (tk-020) · ml-research / training ·
// cn-hangzhou; …".
func reuseGroups(d *notify.Digest) []string {
	var out []string
	for _, sec := range d.Sections {
		for _, g := range sec.Groups {
			var members []string
			for _, it := range g.Items {
				members = append(members, fmt.Sprintf("%s (%s) · %s%s / %s · %s · owner %s", it.Token.Name, it.Token.TokenID, it.Account,
					notify.WorkspaceLabel(*it.Gateway), notify.GatewayLabel(*it.Gateway), it.Gateway.Region, cmp.Or(it.Token.CreatedBy, "unknown")))
			}
			out = append(out, fmt.Sprintf("%d tokens share one secret: %s", g.Size, strings.Join(members, "; ")))
		}
	}
	return out
}

var severityRank = map[audit.Severity]int{audit.SeverityCritical: 4, audit.SeverityHigh: 3, audit.SeverityMedium: 2, audit.SeverityLow: 1}

type tokenRef struct {
	g *audit.GatewayReport
	t *audit.TokenReport
}

// writeRows writes a row per token, soonest expiry first (none last), then
// by name and ID. Every value is escaped (for text and for quoted
// attributes alike).
func writeRows(w *bufio.Writer, s *audit.Snapshot) {
	rw := &rowWriter{w: w, at: s.AuditedAt}
	for _, r := range sortedTokens(s) {
		rw.row(r.g, r.t)
	}
}

// sortedTokens are every token of s, soonest expiry first (none last),
// then by name and ID.
func sortedTokens(s *audit.Snapshot) []tokenRef {
	var refs []tokenRef
	for i := range s.Gateways {
		g := &s.Gateways[i]
		for j := range g.Tokens {
			refs = append(refs, tokenRef{g, &g.Tokens[j]})
		}
	}
	slices.SortStableFunc(refs, func(a, b tokenRef) int {
		ea, eb := a.t.ExpireTime, b.t.ExpireTime
		switch {
		case ea == nil && eb != nil:
			return 1
		case ea != nil && eb == nil:
			return -1
		case ea != nil && !ea.Equal(*eb):
			return ea.Compare(*eb)
		}
		return cmp.Or(strings.Compare(a.t.Name, b.t.Name), strings.Compare(a.t.TokenID, b.t.TokenID))
	})
	return refs
}

// rowWriter writes the table's rows by hand: a fleet has up to 100,000
// tokens, too many for html/template.
type rowWriter struct {
	w   *bufio.Writer
	at  time.Time
	buf []byte
}

var esc = template.HTMLEscapeString

func (rw *rowWriter) td(v string) {
	rw.w.WriteString("<td>")
	rw.w.WriteString(esc(v))
	rw.w.WriteString("</td>")
}

// day writes a date cell that sorts by its time ("~" after every time).
func (rw *rowWriter) day(t *time.Time, none, rel string) {
	w := rw.w
	if t == nil {
		w.WriteString(`<td data-sort="~">`)
		w.WriteString(none)
	} else {
		// time.Format costs a fifth of the page; this writes the same
		// bytes (RFC3339Nano, then the date) for a UTC time.
		u := t.UTC()
		b := append(rw.buf[:0], `<td data-sort="`...)
		b = appendRFC3339Nano(b, u)
		b = append(b, `">`...)
		b = append(b, b[len(`<td data-sort="`):len(`<td data-sort="`)+10]...)
		rw.buf = b
		w.Write(b)
	}
	if rel != "" {
		w.WriteString(`<br><span class="muted">`)
		w.WriteString(esc(rel))
		w.WriteString("</span>")
	}
	w.WriteString("</td>")
}

func (rw *rowWriter) chip(label, severity, title string, suppressed bool) {
	w := rw.w
	w.WriteString(`<span class="f s-`)
	w.WriteString(esc(severity))
	if suppressed {
		w.WriteString(" sup")
	}
	w.WriteString(`" title="`)
	w.WriteString(esc(title))
	w.WriteString(`">`)
	w.WriteString(esc(label))
	w.WriteString("</span>")
}

func (rw *rowWriter) row(g *audit.GatewayReport, t *audit.TokenReport) {
	w := rw.w
	w.WriteString(`<tr data-token="`)
	w.WriteString(esc(t.TokenID))
	w.WriteString(`">`)
	rw.td(cmp.Or(g.AccountName, g.AccountID, "own"))
	rw.td(g.Region)
	rw.td(notify.WorkspaceLabel(*g))
	gw := notify.GatewayLabel(*g)
	switch {
	case g.Public != nil && *g.Public:
		gw += " · public endpoint"
	case g.DetailsError != nil:
		gw += " · exposure unknown"
	}
	rw.td(gw)
	w.WriteString(`<td class="name" title="`)
	w.WriteString(esc(t.TokenID))
	w.WriteString(`">`)
	w.WriteString(esc(t.Name))
	w.WriteString("</td>")
	rw.td(cmp.Or(t.CreatedBy, "unknown"))
	rw.day(t.CreateTime, "unknown", "")
	var rel string
	if t.ExpireTime != nil {
		if left := t.ExpireTime.Sub(rw.at); left > 0 {
			rel = "in " + audit.Span(left)
		} else {
			rel = "expired " + audit.Ago(left)
		}
	}
	rw.day(t.ExpireTime, "never", rel)
	rel = ""
	if t.LastUsedTime != nil {
		rel = audit.Ago(rw.at.Sub(*t.LastUsedTime))
	}
	rw.day(t.LastUsedTime, "never", rel)
	rw.findings(t)
	w.WriteString("</tr>\n")
}

// findings writes the findings cell, sorting the most severe first in
// ascending order, then the most findings.
func (rw *rowWriter) findings(t *audit.TokenReport) {
	worst := 0
	for _, f := range t.Findings {
		worst = max(worst, severityRank[f.Severity])
	}
	n := max(0, 999-len(t.Findings))
	rw.buf = append(append(rw.buf[:0], `<td data-sort="`...), byte('0'+9-worst), byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10), '"', '>')
	rw.w.Write(rw.buf)
	for _, f := range t.Findings {
		label := audit.Info(f.Rule).Label
		if f.Stage != "" {
			label += " " + f.Stage
		}
		rw.chip(label, f.Severity.String(), f.Message, false)
	}
	for _, f := range t.Suppressed {
		rw.chip(audit.Info(f.Rule).Label, "low", "suppressed: "+notify.PlainUsers(f.Reason, map[string]string{f.SnoozedBy: f.SnoozedByName}), true)
	}
	for _, e := range t.DataErrors {
		rw.chip("unreadable "+e.Field, "medium", e.Message, false)
	}
	rw.w.WriteString("</td>")
}

// expiries are the tokens expiring on each of the next 90 days, drawn w
// wide with a date every tick days.
func expiries(s *audit.Snapshot, w float64, every int) timeline {
	const days, h, base = 90, 160.0, 130.0
	tl := timeline{W: w, H: h, Base: base}
	counts := make([]int, days)
	start := s.AuditedAt.UTC()
	for _, g := range s.Gateways {
		for _, t := range g.Tokens {
			if t.ExpireTime == nil {
				continue
			}
			left := t.ExpireTime.Sub(start)
			switch {
			case left <= 0:
				tl.Expired++
			case left < days*24*time.Hour:
				counts[int(left/(24*time.Hour))]++
				tl.Total++
			}
		}
	}
	most := max(1, slices.Max(counts))
	bw := w / days
	for i, n := range counts {
		if n == 0 {
			continue
		}
		height := float64(n) / float64(most) * (base - 10)
		tl.Bars = append(tl.Bars, bar{X: float64(i) * bw, Y: base - height, Width: bw - 1, Height: height,
			Title: fmt.Sprintf("%s: %d token(s) expire", start.Add(time.Duration(i)*24*time.Hour).Format("2006-01-02"), n)})
	}
	for i := 0; i < days; i += every {
		tl.Ticks = append(tl.Ticks, tick{X: float64(i) * bw, Y: h - 8, Label: start.Add(time.Duration(i) * 24 * time.Hour).Format("Jan 2")})
	}
	tl.Ticks = append(tl.Ticks, tick{X: w - 60, Y: 12, Label: fmt.Sprintf("max %d/day", most)})
	return tl
}

// trendOf draws the active findings per rule over the history: a small
// chart per rule counted in at least two of the audits, on one scale.
func trendOf(h []audit.HistoryEntry) trend {
	const w, ht, pad = 200.0, 32.0, 3.0
	tr := trend{W: w, H: ht, Runs: h}
	if len(h) < 2 {
		return tr
	}
	tr.From, tr.To = h[0].AuditedAt.UTC().Format("Jan 2"), h[len(h)-1].AuditedAt.UTC().Format("Jan 2")
	tr.Max = 1
	for _, e := range h {
		for _, n := range e.Findings {
			tr.Max = max(tr.Max, n)
		}
	}
	step := w / float64(len(h)-1)
	var single []string
	for _, r := range audit.Rules {
		var pts, series []string
		points := 0
		for i, e := range h {
			n, ok := e.Findings[r]
			if ok {
				points++
			}
			y := ht - pad - float64(n)/float64(tr.Max)*(ht-2*pad)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(i)*step, y))
			series = append(series, fmt.Sprintf("%s: %d", e.AuditedAt.UTC().Format("Jan 2 15:04"), n))
		}
		switch {
		case points == 1:
			single = append(single, audit.Info(r).Title)
			continue
		case points == 0:
			continue
		}
		last, prev := h[len(h)-1].Findings[r], h[len(h)-2].Findings[r]
		l := line{Rule: string(r), Title: audit.Info(r).Title, Color: audit.Info(r).Color, Points: strings.Join(pts, " "),
			Series: strings.Join(series, ", "), Last: last}
		switch {
		case last > prev:
			l.Delta = fmt.Sprintf("+%d", last-prev)
		case last < prev:
			l.Delta = fmt.Sprintf("−%d", prev-last)
		}
		tr.Lines = append(tr.Lines, l)
	}
	tr.Single = strings.Join(single, ", ")
	return tr
}

// appendRFC3339Nano appends u (UTC, years 0 to 9999) as
// time.RFC3339Nano formats it: the fraction without trailing zeros, none
// when it is zero.
func appendRFC3339Nano(b []byte, u time.Time) []byte {
	y, mo, d := u.Date()
	h, mi, sec := u.Clock()
	b = appendInt(b, y, 4)
	b = append(b, '-')
	b = appendInt(b, int(mo), 2)
	b = append(b, '-')
	b = appendInt(b, d, 2)
	b = append(b, 'T')
	b = appendInt(b, h, 2)
	b = append(b, ':')
	b = appendInt(b, mi, 2)
	b = append(b, ':')
	b = appendInt(b, sec, 2)
	if ns := u.Nanosecond(); ns != 0 {
		b = append(b, '.')
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = appendInt(b, ns, digits)
	}
	return append(b, 'Z')
}

// appendInt appends n, zero-padded to width digits.
func appendInt(b []byte, n, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}
