package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistoryNext(t *testing.T) {
	t.Parallel()
	snap := func(day int) *Snapshot {
		at := now.Add(time.Duration(day) * Day)
		return &Snapshot{RunID: RunID(at), AuditedAt: at, Verdict: VerdictComplete,
			Summary: Summary{Gateways: 2, Tokens: day, Findings: map[Rule]int{RuleStale: day}}}
	}
	var h *History
	for day := range HistoryMax + 5 {
		h = h.Next(snap(day))
	}
	if len(h.Runs) != HistoryMax || h.Runs[0].RunID != snap(5).RunID || h.Runs[HistoryMax-1].RunID != snap(HistoryMax+4).RunID {
		t.Fatalf("history of %d runs from %s to %s, want the last %d", len(h.Runs), h.Runs[0].RunID, h.Runs[len(h.Runs)-1].RunID, HistoryMax)
	}
	// The same run again replaces its entry; an older audit than the last
	// drops the later entries (the history never holds a future).
	again := h.Next(snap(HistoryMax + 4))
	if len(again.Runs) != HistoryMax || again.Runs[HistoryMax-1].RunID != snap(HistoryMax+4).RunID {
		t.Errorf("the same run twice: %d runs", len(again.Runs))
	}
	back := h.Next(snap(10))
	if last := back.Runs[len(back.Runs)-1]; last.RunID != snap(10).RunID || len(back.Runs) != 6 {
		t.Errorf("an older audit: %d runs, last %s", len(back.Runs), last.RunID)
	}

	var buf bytes.Buffer
	if err := h.Write(&buf); err != nil {
		t.Fatal(err)
	}
	read, err := ReadHistory(buf.Bytes())
	if err != nil || len(read.Runs) != HistoryMax || read.Runs[3].Findings[RuleStale] != 8 {
		t.Errorf("read back: %v, %d runs", err, len(read.Runs))
	}
	for _, bad := range []string{`{"schemaVersion": 2, "runs": []}`, `[1,2]`, `{`} {
		if _, err := ReadHistory([]byte(bad)); err == nil {
			t.Errorf("ReadHistory(%s): no error", bad)
		}
	}
}

// recPage records what it was asked to render.
type recPage struct {
	histories [][]string
	fail      error
}

func (p *recPage) WritePage(w io.Writer, s *Snapshot, history []HistoryEntry, loc Locations) error {
	var ids []string
	for _, e := range history {
		ids = append(ids, e.RunID)
	}
	p.histories = append(p.histories, ids)
	if p.fail != nil {
		return p.fail
	}
	_, err := fmt.Fprintf(w, "<!doctype html><title>%s</title><a>%s</a>", s.RunID, loc.Snapshot)
	return err
}

func TestRunWritesPagesAndHistory(t *testing.T) {
	t.Parallel()
	st, p := newMemStore(), &recPage{}
	r := newRunner(world(), st, nil)
	r.Page = p
	res, err := r.Run(t.Context(), RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	page := "2026/11/27/20261127T090000Z.html"
	want := []string{"put " + dated, "put " + page, "put latest.json", "put baseline.json", "put history.json", "put latest.html"}
	if !slices.Equal(st.ops, want) {
		t.Errorf("ops %v, want %v", st.ops, want)
	}
	if res.PageKey != page || res.PageLocation != "mem://"+page || !bytes.Equal(st.objects[page], st.objects[LatestPageKey]) {
		t.Errorf("page %s at %s; latest.html is the run's page: %v", res.PageKey, res.PageLocation, bytes.Equal(st.objects[page], st.objects[LatestPageKey]))
	}
	// The page's trend includes this run.
	if got := p.histories[0]; !slices.Equal(got, []string{RunID(now)}) {
		t.Errorf("the page was drawn with history %v, want this run", got)
	}

	// A narrowed run writes its page, but neither latest.html nor history.
	next := now.Add(Day)
	narrowed, err := Narrow(r.Accounts, Narrowing{Gateways: []GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	st.ops = nil
	if _, err := r.Run(t.Context(), RunOptions{Now: next, Accounts: narrowed}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"put 2026/11/28/20261128T090000Z.json", "put 2026/11/28/20261128T090000Z.html"}; !slices.Equal(st.ops, want) {
		t.Errorf("narrowed run: ops %v, want %v", st.ops, want)
	}
	if got := p.histories[1]; !slices.Equal(got, []string{RunID(now)}) {
		t.Errorf("the narrowed run's page was drawn with history %v, want the full audits only", got)
	}
	h, err := ReadHistory(st.objects[HistoryKey])
	if err != nil || len(h.Runs) != 1 {
		t.Errorf("history.json after a narrowed run: %v, %+v", err, h)
	}
}

func TestRunReportsAFailedPage(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, &recNotifier{})
	r.Page = &recPage{fail: errors.New("template broke")}
	res, err := r.Run(t.Context(), RunOptions{Now: now, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "write 2026/11/27/20261127T090000Z.html: template broke") {
		t.Errorf("got %v, want the page's error", err)
	}
	if !res.Written || st.objects[dated] == nil || !res.MovedLatest || res.PageLocation != "" {
		t.Errorf("written %v, latest moved %v, page %q: want the snapshot and the baseline moved, and no link to the page", res.Written, res.MovedLatest, res.PageLocation)
	}
	if _, ok := st.objects[LatestPageKey]; ok {
		t.Error("latest.html was written though the run's page failed")
	}
}
