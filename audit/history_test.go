package audit

import (
	"bytes"
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
