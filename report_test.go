package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	auditrun "livy-token-audit/audit/run"
	goldenfile "livy-token-audit/internal/golden"
	"livy-token-audit/notify"
	"livy-token-audit/notify/page"
)

// chromium finds a Chromium to drive, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LIVY_AUDIT_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium installed, and LIVY_AUDIT_REQUIRE_BROWSER is set (CI): apt-get install -y chromium")
	}
	t.Skip("no Chromium installed (apt-get install -y chromium): the report page is not tested in a browser")
	return ""
}

// site serves a folder over loopback and records every request to it.
type site struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func serve(t *testing.T, dir string) *site {
	s := &site{}
	fs := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.URL.Path)
		s.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, ".html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8") // as the OSS store writes it
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// tab is one browser tab and what it reported.
type tab struct {
	ctx      context.Context // the tab's, bounded in time
	mu       sync.Mutex
	problems []string // console errors and warnings, exceptions, browser log errors (a CSP violation is one)
	requests []string // every request the page made
}

// newBrowser starts a headless Chromium for the test.
func newBrowser(t *testing.T, exe string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("no-pings", true))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no time limit on its life
		t.Fatalf("start %s: %v", exe, err)
	}
	return ctx
}

// open opens url in a new tab of the browser with a viewport of w×h.
func open(t *testing.T, browser context.Context, url string, w, h int64, mobile bool) *tab {
	t.Helper()
	tctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tctx); err != nil { // opens the tab
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tctx, time.Minute)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	if err := chromedp.Listen(tctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			tb.mu.Lock()
			tb.requests = append(tb.requests, ev.Request.URL)
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(tctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				tb.mu.Lock()
				tb.problems = append(tb.problems, m.String()+" "+m.Source)
				tb.mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	var emulate []chromedp.EmulateViewportOption
	if mobile {
		emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, emulate...),
		chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("tokens"))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return tb
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// clean fails the test if the page logged a problem or asked for anything
// but itself.
func (tb *tab) clean(t *testing.T, self string) {
	t.Helper()
	// Let late events arrive.
	if err := chromedp.Do(tb.ctx, chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		t.Errorf("the page logged: %s", p)
	}
	if !slices.Contains(tb.requests, self) {
		t.Errorf("the browser reported no request for the page itself (%v): the network listener is not working", tb.requests)
	}
	for _, r := range tb.requests {
		if r != self {
			t.Errorf("the page made a request: %s", r)
		}
	}
}

func (tb *tab) screenshot(t *testing.T, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	return png
}

// TestReportPageInABrowser opens the demo's report page in headless
// Chromium, served over loopback as OSS serves it.
func TestReportPageInABrowser(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	dir := demoRuns(t, 2) // two runs, so that the page has a trend to draw
	b, err := os.ReadFile(filepath.Join(dir, "demo-out", "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := audit.ReadSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	soonest, soonestAt := "", time.Time{}
	for _, g := range snap.Gateways {
		for _, tk := range g.Tokens {
			want = append(want, tk.TokenID)
			if tk.ExpireTime != nil && (soonest == "" || tk.ExpireTime.Before(soonestAt)) {
				soonest, soonestAt = tk.TokenID, *tk.ExpireTime
			}
		}
	}
	if len(want) < 5 || soonest == "" {
		t.Fatalf("the demo snapshot has %d tokens: too few to test the table", len(want))
	}

	// The README's screenshot: the same page, its footer naming the
	// snapshot as the demo does (demo-out/…), not this test's folder.
	hist, err := os.ReadFile(filepath.Join(dir, "demo-out", audit.HistoryKey))
	if err != nil {
		t.Fatal(err)
	}
	h, err := audit.ReadHistory(hist)
	if err != nil {
		t.Fatal(err)
	}
	var shot bytes.Buffer
	shown := *snap
	shown.Tool.Version = "(devel)" // as go run . -demo says
	if err := (page.Page{}).WritePage(&shot, notify.NewDigest(&shown, delivery.Locations{Snapshot: "demo-out/" + audit.SnapshotKey(snap.AuditedAt)}), h.Runs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo-out", "screenshot.html"), shot.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	srv := serve(t, filepath.Join(dir, "demo-out"))
	browser := newBrowser(t, exe)
	// At 1366 px, a laptop's width, nothing is clipped: the table needs
	// no sideways scrolling, and every badge is inside it.
	wide := open(t, browser, srv.URL+"/screenshot.html", 1366, 900, false)
	png := wide.screenshot(t, "report.png")
	if clipped := eval[[]string](t, wide, clippedJS); len(clipped) > 0 {
		t.Errorf("at 1366 px, clipped or off screen: %v", clipped)
	}
	if goldenfile.Update() {
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", "report.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self := srv.URL + "/latest.html"
	tb := open(t, browser, self, 1200, 900, false)

	// The page leads with what to do: the most severe first, then the
	// soonest to break — a high-severity expiring token before the low and
	// medium ones that expired days ago — and what changed, by name.
	type act struct {
		Token    string `json:"token"`
		Severity string `json:"severity"`
		Do       string `json:"do"`
	}
	acts := eval[[]act](t, tb, `Array.from(document.querySelectorAll("#actions li")).map(li => ({token: li.dataset.token, severity: li.querySelector(".f").textContent,
		do: (li.querySelector(".do") || {}).textContent || ""}))`)
	rank := map[string]int{"critical": 4, "high": 3, "medium": 2, "low": 1}
	nightly := slices.IndexFunc(acts, func(a act) bool { return a.Token == "tk-001" })
	for i := range acts {
		if i > 0 && rank[acts[i].Severity] > rank[acts[i-1].Severity] {
			t.Errorf("needs action: %v is out of severity order", acts)
		}
		if acts[i].Severity != "high" && acts[i].Severity != "critical" && nightly > i {
			t.Errorf("needs action: etl-nightly (high, expiring) comes after %s (%s): %v", acts[i].Token, acts[i].Severity, acts)
		}
	}
	if len(acts) == 0 || nightly < 0 {
		t.Fatalf("needs action: %v, want etl-nightly among them", acts)
	}
	// Each item says what to do; an expiring token by when.
	for _, a := range acts {
		if a.Do == "" {
			t.Errorf("needs action: %s says what is wrong, not what to do", a.Token)
		}
	}
	if want := "renew before " + soonestOf(snap, "tk-001") + ", or delete"; acts[nightly].Do != want {
		t.Errorf("needs action: etl-nightly says %q, want %q", acts[nightly].Do, want)
	}
	// Severity badges differ by more than colour: critical is filled, high
	// is bold with a thick border, and each says its severity in words.
	type badge struct {
		Text, Background, Border, Weight string
	}
	badges := eval[map[string]badge](t, tb, `(() => { const out = {};
		for (const b of document.querySelectorAll("#actions .f")) { const c = getComputedStyle(b);
			out[b.textContent] = {Text: b.textContent, Background: c.backgroundColor, Border: c.borderTopStyle + " " + c.borderTopWidth, Weight: c.fontWeight}; }
		return out; })()`)
	crit, high, med := badges["critical"], badges["high"], badges["medium"]
	if crit.Text == "" || high.Text == "" || med.Text == "" {
		t.Fatalf("needs action: badges %v, want critical, high and medium ones (the demo has each)", badges)
	}
	if crit.Background == high.Background || high.Border == med.Border && high.Weight == med.Weight {
		t.Errorf("severity badges look alike apart from colour: %+v", badges)
	}
	changes := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#changes li")).map(li => li.textContent)`)
	if !slices.ContainsFunc(changes, func(c string) bool {
		return strings.HasPrefix(c, "escalated: risk-api (tk-031) · expiring → expired")
	}) {
		t.Errorf("the changes are not named: %v", changes)
	}

	// Every token is a row, once.
	rows := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#tokens tbody tr")).map(r => r.dataset.token)`)
	if !sameSet(rows, want) {
		t.Errorf("table rows %v, want the snapshot's tokens %v", rows, want)
	}
	// The script ran under the page's CSP: it showed the filter and made
	// the headers buttons.
	scripted := eval[bool](t, tb, `!document.getElementById("filter").hidden && document.querySelectorAll("#tokens th button").length === 10`)
	if !scripted {
		t.Error("the inline script did not run (blocked by the page's CSP?)")
	}
	// The trend is drawn from history.json: a chart per rule counted in
	// both audits (a line of its own, which no other hides), none for a
	// rule counted once.
	var series int
	for _, r := range audit.Rules {
		n := 0
		for _, e := range h.Runs {
			if _, ok := e.Findings[r]; ok {
				n++
			}
		}
		if n > 1 {
			series++
		}
	}
	lines := eval[[]int](t, tb, `[document.querySelectorAll("#trend polyline").length, document.querySelectorAll("#trend svg").length]`)
	if series == 0 || lines[0] != series || lines[1] != series {
		t.Errorf("trend: %d lines in %d charts, want %d, one per chart", lines[0], lines[1], series)
	}

	// Sort by name, then by expiry: the soonest expiry comes first, and the
	// column is in order.
	if err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(`#tokens thead th:nth-child(5) button`)),
		chromedp.Click(chromedp.CSS(`#tokens thead th:nth-child(8) button`)),
	); err != nil {
		t.Fatal(err)
	}
	expires := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#tokens tbody tr")).map(r => r.cells[7].dataset.sort)`)
	first := eval[string](t, tb, `document.querySelector("#tokens tbody tr").dataset.token`)
	if first != soonest || !slices.IsSorted(expires) {
		t.Errorf("sorted by expiry: first row %s (want %s, the soonest), column %v", first, soonest, expires)
	}
	order := eval[string](t, tb, `document.querySelector("#tokens thead th:nth-child(8)").getAttribute("aria-sort")`)
	if order != "ascending" {
		t.Errorf("the Expires header says aria-sort=%q, want ascending", order)
	}

	// Filtering keeps the rows that hold the text.
	if err := chromedp.Do(tb.ctx, chromedp.SendKeys(chromedp.ID("filter"), "finance")); err != nil {
		t.Fatal(err)
	}
	visible := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#tokens tbody tr")).filter(r => !r.hidden).map(r => r.dataset.token)`)
	var finance []string
	for _, g := range snap.Gateways {
		if g.WorkspaceName == "finance" {
			for _, tk := range g.Tokens {
				finance = append(finance, tk.TokenID)
			}
		}
	}
	if len(finance) == 0 || !sameSet(visible, finance) {
		t.Errorf("filtered by \"finance\": rows %v, want %v", visible, finance)
	}
	tb.clean(t, self)
	if reqs := srv.requests(); !slices.Equal(reqs, []string{"/screenshot.html", "/latest.html"}) {
		t.Errorf("the server saw %v, want the pages alone", reqs)
	}

	t.Run("phone", func(t *testing.T) {
		tb := open(t, browser, self, 390, 844, true)
		tb.screenshot(t, "report-phone.png")
		fits := eval[bool](t, tb, `document.documentElement.scrollWidth <= window.innerWidth`)
		if !fits {
			t.Error("the page is wider than a phone's screen")
		}
		if clipped := eval[[]string](t, tb, clippedJS); len(clipped) > 0 {
			t.Errorf("on a phone, clipped or off screen: %v", clipped)
		}
		// The title is one line.
		lines := eval[float64](t, tb, `(() => { const h = document.querySelector("h1"); return h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight); })()`)
		if lines > 1.5 {
			t.Errorf("the title takes %.1f lines on a phone, want one", lines)
		}
		// No visible text under 11 px, the charts' included (an SVG's text
		// is scaled with its drawing).
		small := eval[[]string](t, tb, `(() => { const out = [];
			for (const el of document.querySelectorAll("body *")) {
				const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim() !== "");
				const r = el.getBoundingClientRect();
				if (!own || r.width === 0 || r.height === 0) continue;
				let size = parseFloat(getComputedStyle(el).fontSize);
				const svg = el.closest("svg");
				if (svg) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
				if (size < 10.95) out.push(el.tagName + " " + size.toFixed(1) + "px: " + el.textContent.trim().slice(0, 30));
			}
			return out; })()`)
		for _, s := range small {
			t.Errorf("text under 11 px on a phone: %s", s)
		}
		// Each token is a card: its name, region, gateway, expiry and
		// findings are on screen without scrolling sideways.
		cards := eval[bool](t, tb, `Array.from(document.querySelectorAll("#tokens tbody tr")).every(tr => [1, 3, 4, 7, 9].every(i => {
			const r = tr.cells[i].getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth + 0.5; }))`)
		if !cards {
			t.Error("on a phone, a token's name, region, gateway, expiry or findings are hidden or off screen")
		}
		tb.clean(t, self)
	})

	t.Run("hostile name", func(t *testing.T) {
		const hostile = `</td></tr></table><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><a href="javascript:alert(1)">x</a>`
		g := &snap.Gateways[0]
		g.Tokens = append(g.Tokens, audit.TokenReport{TokenID: "tk-hostile", Name: hostile, CreatedBy: `"><svg onload=alert(1)>`,
			Findings: []audit.Finding{}, Suppressed: []audit.SuppressedFinding{}})
		var buf bytes.Buffer
		if err := (page.Page{}).WritePage(&buf, notify.NewDigest(snap, delivery.Locations{Snapshot: `x"><script>alert(1)</script>`}), nil); err != nil {
			t.Fatal(err)
		}
		hdir := t.TempDir()
		if err := os.WriteFile(filepath.Join(hdir, "hostile.html"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		hs := serve(t, hdir)
		tb := open(t, browser, hs.URL+"/hostile.html", 1200, 900, false)
		type result struct {
			Pwned   bool   `json:"pwned"`
			Scripts int    `json:"scripts"`
			Images  int    `json:"images"`
			Links   int    `json:"links"`
			SVGs    int    `json:"svgs"`
			Name    string `json:"name"`
			Owner   string `json:"owner"`
		}
		got := eval[result](t, tb, `(() => { const r = document.querySelector('tr[data-token="tk-hostile"]'); return {
			pwned: window.pwned !== undefined, scripts: document.scripts.length, images: document.images.length,
			links: document.links.length, svgs: document.querySelectorAll("svg:not(.remediation)").length,
			name: r ? r.cells[4].textContent : "", owner: r ? r.cells[5].textContent : ""}; })()`)
		if got.Pwned || got.Scripts != 1 || got.Images != 0 || got.Links != 0 || got.SVGs != 2 { // the timeline, wide and narrow (no history: no trend; the remediation chart not counted)
			t.Errorf("the hostile name injected markup: %+v", got)
		}
		if got.Name != hostile || got.Owner != `"><svg onload=alert(1)>` {
			t.Errorf("the hostile name is not shown as text: name %q, owner %q", got.Name, got.Owner)
		}
		tb.clean(t, hs.URL+"/hostile.html")
	})
}

// clippedJS lists what is cut off: a scrolling box whose content is wider
// than it, and a badge outside the page's width or its table's.
const clippedJS = `(() => { const out = [];
	for (const el of document.querySelectorAll(".scroll")) if (el.scrollWidth > el.clientWidth + 0.5) out.push("the table scrolls sideways (" + el.scrollWidth + " > " + el.clientWidth + ")");
	for (const b of document.querySelectorAll(".f")) { const r = b.getBoundingClientRect(), box = (b.closest("table") || document.body).getBoundingClientRect();
		if (r.width > 0 && (r.right > Math.min(window.innerWidth, box.right) + 0.5)) out.push("badge " + b.textContent + " of " + (b.closest("[data-token]") || {dataset: {}}).dataset.token); }
	return out; })()`

// soonestOf is token id's expiry as the page's fixes say it.
func soonestOf(s *audit.Snapshot, id string) string {
	for _, g := range s.Gateways {
		for _, tk := range g.Tokens {
			if tk.TokenID == id && tk.ExpireTime != nil {
				return tk.ExpireTime.UTC().Format("Mon Jan 2 15:04 UTC")
			}
		}
	}
	return "(no expiry)"
}

// demoRuns runs the demo n times (a day apart) into a folder of its own,
// in process but without changing the working directory (so that the test
// can run in parallel), and returns the folder that holds demo-out.
func demoRuns(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	log := newLogger(io.Discard, false)
	d, err := startDemo(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.setDir(filepath.Join(dir, "demo-out"))
	for i := range n {
		now := d.nextTime(t.Context())
		d.setClock(now)
		r, _, err := newRunner(d.cfg, d.cred, d.env(noEnv, false), log, nil)
		if err == nil {
			err = d.demoRetirer(r, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(t.Context(), auditrun.Options{Now: now, Trigger: audit.Trigger{Kind: "demo"}, Notify: true})
		if res == nil || !res.MovedLatest || (err != nil && !d.staged(res.Snapshot)) {
			t.Fatalf("demo run %d: %v", i+1, err)
		}
	}
	return dir
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
