package localstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"livy-token-audit/audit/store"
)

func TestStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := &Store{Dir: dir}
	ctx := t.Context()
	if _, err := st.Get(ctx, "latest.json"); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: got %v, want store.ErrNotFound (and fs.ErrNotExist)", err)
	}
	if err := st.Put(ctx, "2026/11/27/x.json", store.Bytes([]byte(`{"v":1}`))); err != nil {
		t.Fatal(err)
	}
	// Copy is a hard link under the new name: the content is not written
	// again, and replacing the source later does not change the copy.
	if err := st.Copy(ctx, "2026/11/27/x.json", "latest.json"); err != nil {
		t.Fatal(err)
	}
	src, _ := os.Stat(filepath.Join(dir, "2026/11/27/x.json"))
	dst, _ := os.Stat(filepath.Join(dir, "latest.json"))
	if !os.SameFile(src, dst) {
		t.Error("latest.json is not a hard link of the dated object")
	}
	if err := st.Put(ctx, "2026/11/27/x.json", store.Bytes([]byte(`{"v":2}`))); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(ctx, "latest.json"); err != nil || string(b) != `{"v":1}` {
		t.Errorf("latest.json after the source was replaced: %s, %v", b, err)
	}
	if err := st.Copy(ctx, "missing.json", "latest.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("copy of a missing object: got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the folder holds %d entries, want 2 (no temporary file left)", len(entries))
	}
	// Of concurrent creators exactly one wins.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Create(ctx, "2026/11/27/x.notified.json", []byte("claim"))
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists) || !errors.Is(err, fs.ErrExist):
			t.Errorf("a losing create: %v, want store.ErrExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creators won, want 1", won)
	}
	if _, err := st.Get(ctx, "../etc/passwd"); err == nil {
		t.Error("a key outside the folder was read")
	}
}
