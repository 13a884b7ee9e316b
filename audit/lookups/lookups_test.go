package lookups

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory, with the store's semantics: Get of a
// missing key wraps fs.ErrNotExist.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (m *memStore) Put(_ context.Context, key string, content func(io.Writer) error) error {
	var b bytes.Buffer
	if err := content(&b); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = b.Bytes()
	m.puts++
	return nil
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// An answer kept by one run is the next run's, for as long as it is
// believed (a user a week, no user a day); the file holds no email; a run
// that learned nothing writes nothing.
func TestKeptAcrossRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &memStore{objects: map[string][]byte{}}
	clk := &clock{t0}
	run1 := &Cache{Store: st, Now: clk.now}
	if _, ok := run1.Get(ctx, "erin@acme.example"); ok {
		t.Fatal("an empty store answered")
	}
	run1.Put(ctx, "Erin@Acme.example ", "U0ERIN001", "")
	run1.Put(ctx, "alice@acme.example", "", "no Slack user has their email")
	if err := run1.Keep(ctx); err != nil {
		t.Fatal(err)
	}
	if b := string(st.objects[Key]); strings.Contains(strings.ToLower(b), "acme.example") || !strings.Contains(b, hash("erin@acme.example")) {
		t.Errorf("the kept file names an email, or not erin's hash:\n%s", b)
	}
	for _, tc := range []struct {
		after       time.Duration
		erin, alice bool
	}{
		{time.Hour, true, true},
		{NoneFor - time.Second, true, true},
		{NoneFor, true, false},
		{FoundFor - time.Second, true, false},
		{FoundFor, false, false},
		{-time.Hour, false, false}, // dated ahead of the clock
	} {
		clk.t = t0.Add(tc.after)
		next := &Cache{Store: st, Now: clk.now}
		erin, okE := next.Get(ctx, "erin@acme.example")
		alice, okA := next.Get(ctx, "ALICE@acme.example")
		if okE != tc.erin || okE && erin.ID != "U0ERIN001" || okA != tc.alice || okA && alice.None != "no Slack user has their email" {
			t.Errorf("after %s: erin %+v %v, alice %+v %v; want %v and %v", tc.after, erin, okE, alice, okA, tc.erin, tc.alice)
		}
	}
	puts := st.puts
	clk.t = t0.Add(time.Hour)
	idle := &Cache{Store: st, Now: clk.now}
	idle.Get(ctx, "erin@acme.example")
	if err := idle.Keep(ctx); err != nil || st.puts != puts {
		t.Errorf("a run that learned nothing wrote (%d puts, %v)", st.puts-puts, err)
	}
	var none *Cache
	none.Put(ctx, "x@y", "U0X0001", "")
	if _, ok := none.Get(ctx, "x@y"); ok || none.Keep(ctx) != nil {
		t.Error("a nil cache kept something")
	}
}

// What is read is input: a file that is not a lookups file is an empty
// cache that the next Keep writes over; an answer whose ID is not a Slack
// user ID, or whose key is not a hash, is dropped; a newer release's file
// is read as empty and never written over; aged answers are dropped when
// written, and at most MaxEntries kept, the newest.
func TestReadIsChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	erin := hash("erin@acme.example")
	for _, tc := range []struct {
		name      string
		file      string
		erin      bool
		rewritten bool
	}{
		{"corrupt", `{"schemaVersion":1,"answers":`, false, true},
		{"unknown field", `{"schemaVersion":1,"answers":{},"extra":1}`, false, true},
		{"forged ID", `{"schemaVersion":1,"answers":{"` + erin + `":{"id":"<!channel>","at":"2026-12-01T09:00:00Z"}}}`, false, true},
		{"key not a hash", `{"schemaVersion":1,"answers":{"erin@acme.example":{"id":"U0ERIN001","at":"2026-12-01T09:00:00Z"}}}`, false, true},
		{"good", `{"schemaVersion":1,"answers":{"` + erin + `":{"id":"U0ERIN001","at":"2026-12-01T09:00:00Z"}}}`, true, true},
		{"newer release", `{"schemaVersion":2,"answers":{}}`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{objects: map[string][]byte{Key: []byte(tc.file)}}
			c := &Cache{Store: st, Now: func() time.Time { return t0.Add(time.Hour) }}
			if _, ok := c.Get(ctx, "erin@acme.example"); ok != tc.erin {
				t.Errorf("erin found %v, want %v", ok, tc.erin)
			}
			c.Put(ctx, "frank@acme.example", "U0FRANK01", "")
			if err := c.Keep(ctx); err != nil {
				t.Fatal(err)
			}
			if rewritten := st.puts == 1; rewritten != tc.rewritten {
				t.Errorf("written over: %v, want %v", rewritten, tc.rewritten)
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		st := &memStore{objects: map[string][]byte{}}
		clk := &clock{t0}
		c := &Cache{Store: st, Now: clk.now}
		c.Put(ctx, "old-none@acme.example", "", "no Slack user has their email")
		for i := range MaxEntries + 1 {
			clk.t = t0.Add(time.Duration(i) * time.Millisecond)
			c.Put(ctx, fmt.Sprintf("user%d@acme.example", i), "U0USER0001", "")
		}
		clk.t = t0.Add(NoneFor + time.Minute)
		if err := c.Keep(ctx); err != nil {
			t.Fatal(err)
		}
		next := &Cache{Store: st, Now: clk.now}
		_, first := next.Get(ctx, "user0@acme.example")
		_, last := next.Get(ctx, fmt.Sprintf("user%d@acme.example", MaxEntries))
		_, aged := next.Get(ctx, "old-none@acme.example")
		if first || !last || aged || len(next.answers) != MaxEntries {
			t.Errorf("kept %d (oldest %v, newest %v, aged %v); want the newest %d", len(next.answers), first, last, aged, MaxEntries)
		}
	})
}

// Forget drops every answer that names a user, and the next Keep writes
// the file without it; answers naming others stay.
func TestForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &memStore{objects: map[string][]byte{}}
	c := &Cache{Store: st, Now: func() time.Time { return t0 }}
	c.Put(ctx, "erin@acme.example", "U0ERIN001", "")
	c.Put(ctx, "erin.old@acme.example", "U0ERIN001", "")
	c.Put(ctx, "frank@acme.example", "U0FRANK01", "")
	if err := c.Keep(ctx); err != nil {
		t.Fatal(err)
	}
	next := &Cache{Store: st, Now: func() time.Time { return t0.Add(time.Hour) }}
	next.Forget(ctx, "U0ERIN001")
	if err := next.Keep(ctx); err != nil {
		t.Fatal(err)
	}
	after := &Cache{Store: st, Now: func() time.Time { return t0.Add(time.Hour) }}
	_, erin := after.Get(ctx, "erin@acme.example")
	_, old := after.Get(ctx, "erin.old@acme.example")
	_, frank := after.Get(ctx, "frank@acme.example")
	if erin || old || !frank || st.puts != 2 {
		t.Errorf("after forgetting U0ERIN001: erin %v, erin.old %v, frank %v (%d puts); want only frank", erin, old, frank, st.puts)
	}
}
