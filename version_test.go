package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "306383b886093fd1c1a5e5b2f3c0d9e8a7b6c5d4"}}
	dirty := append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	tests := []struct {
		main     string
		settings []debug.BuildSetting
		want     string
	}{
		{"v1.2.0", nil, "v1.2.0"},
		{"", nil, "(devel)"},
		{"(devel)", rev, "(devel) 306383b88609"},
		{"(devel)", dirty, "(devel) 306383b88609-dirty"},
		{"v0.0.0-20261128044932-306383b88609+dirty", dirty, "v0.0.0-20261128044932-306383b88609+dirty"},
	}
	for _, tc := range tests {
		bi := &debug.BuildInfo{Main: debug.Module{Version: tc.main}, Settings: tc.settings}
		if got := versionOf(bi); got != tc.want {
			t.Errorf("versionOf(%q, %v) = %q, want %q", tc.main, tc.settings, got, tc.want)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-version"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	if got, want := out.String(), "livy-token-audit "+tool().Version+"\n"; got != want || tool().Version == "" {
		t.Errorf("-version printed %q, want %q", got, want)
	}
}
