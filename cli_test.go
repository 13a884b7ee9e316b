package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/delivery"
	goldenfile "livy-token-audit/internal/golden"
	"livy-token-audit/notify"
	"livy-token-audit/notify/slack"
)

// demoFormat runs the first demo audit in a fresh folder with -format f.
func demoFormat(t *testing.T, args ...string) (stdout, stderr []byte) {
	t.Helper()
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := run(t.Context(), append([]string{"-demo"}, args...), noEnv, &out, &errb); code != exitOK {
		t.Fatalf("%v: exit %d; stderr:\n%s", args, code, errb.String())
	}
	assertNoSecrets(t, "", out.Bytes(), errb.Bytes())
	return out.Bytes(), errb.Bytes()
}

// Exploring the demo's outputs does not move its story: a format other than
// text is a dry run (nothing written), and prints what the first run would
// write.
func TestDemoFormats(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		out, errb := demoFormat(t, "-format", "json")
		if _, err := os.Stat("demo-out"); !os.IsNotExist(err) {
			t.Errorf("-demo -format json wrote demo-out (stat: %v): the story moved", err)
		}
		// The snapshot the first demo run writes, marked a dry run (whose
		// retire only looks).
		out = bytes.Replace(out, []byte(",\n    \"dryRun\": true"), nil, 1)
		golden(t, "demo-snapshot.json", bytes.Replace(out, []byte("\n    \"acted\": false,"), []byte("\n    \"acted\": true,"), 1))
		if _, err := audit.ReadSnapshot(out); err != nil {
			t.Errorf("stdout does not decode as a snapshot: %v", err)
		}
		if !bytes.Contains(errb, []byte("Coverage: 5/6 gateways (5 Livy, 1 Kyuubi)")) {
			t.Errorf("the text summary is not on stderr:\n%s", errb)
		}
	})

	t.Run("ndjson", func(t *testing.T) {
		out, _ := demoFormat(t, "-format", "ndjson")
		golden(t, "demo.ndjson", out)
		snap := demoSnapshot(t)
		// As jq reads it: one JSON value per line.
		var ids []string
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var line notify.TokenLine
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&line); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if line.GatewayID == "" || line.Region == "" || line.RunID != snap.RunID {
				t.Errorf("line %q lacks its gateway or run", sc.Text())
			}
			ids = append(ids, line.TokenID)
		}
		if want := tokenIDs(snap); !slices.Equal(ids, want) {
			t.Errorf("tokens %v, want one line per token of the snapshot %v", ids, want)
		}
	})

	t.Run("csv", func(t *testing.T) {
		out, _ := demoFormat(t, "-format", "csv")
		golden(t, "demo.csv", out)
		r := csv.NewReader(bytes.NewReader(out))
		records, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(records[0], notify.CSVHeader) {
			t.Errorf("header %v, want %v", records[0], notify.CSVHeader)
		}
		// One row per token and finding (suppressed ones included), one for
		// a token with none.
		want := 0
		for _, g := range demoSnapshot(t).Gateways {
			for _, tk := range g.Tokens {
				want += max(1, len(tk.Findings)+len(tk.Suppressed))
			}
		}
		if len(records)-1 != want {
			t.Errorf("%d rows, want %d", len(records)-1, want)
		}
	})

	t.Run("slack", func(t *testing.T) {
		out, _ := demoFormat(t, "-format", "slack")
		golden(t, "demo-slack-messages.json", out)
		var msgs []struct {
			Destination string `json:"destination"`
			Message     struct {
				Text   string            `json:"text"`
				Blocks []json.RawMessage `json:"blocks"`
			} `json:"message"`
		}
		if err := json.Unmarshal(out, &msgs); err != nil {
			t.Fatal(err)
		}
		var dests []string
		for _, m := range msgs {
			dests = append(dests, m.Destination)
		}
		// The main report, the finance route's, and one direct message per
		// owner: alice by slack.mentions, erin found by her email.
		if want := "slack slack:route:team-finance slack:owner:U0ALICE01 slack:owner:U0ERIN001"; strings.Join(dests, " ") != want || len(msgs[0].Message.Blocks) == 0 {
			t.Errorf("got messages to %v (%s), want %s", dests, out, want)
		}
		alias, _ := demoFormat(t, "-slack-json")
		if !bytes.Equal(alias, out) {
			t.Error("-slack-json prints something else than -format slack")
		}
	})
}

// demoSnapshot is the snapshot of the first demo run (the golden file).
func demoSnapshot(t *testing.T) *audit.Snapshot {
	t.Helper()
	return goldenfile.Snapshot(t, filepath.Join(repoRoot, "testdata", "golden", "demo-snapshot.json"))
}

func tokenIDs(s *audit.Snapshot) []string {
	var ids []string
	for _, g := range s.Gateways {
		for _, tk := range g.Tokens {
			ids = append(ids, tk.TokenID)
		}
	}
	return ids
}

func TestCLINarrowing(t *testing.T) {
	tests := []struct {
		args     []string
		gateways []string // region/workspace/gateway audited
	}{
		{[]string{"-region", "cn-shanghai"}, []string{"cn-shanghai/w-sh-fin01/lc-sh-risk"}},
		{[]string{"-workspace", "ml-research"}, []string{"cn-hangzhou/w-hz-ml02/lc-hz-ml", "cn-hangzhou/w-hz-ml02/lc-hz-ml2"}},
		{[]string{"-gateway", "cn-hangzhou/w-hz-data01/lc-hz-bi"}, []string{"cn-hangzhou/w-hz-data01/lc-hz-bi"}},
		{[]string{"-gateway", "self:cn-hangzhou/w-hz-data01/lc-hz-bi", "-gateway", "cn-shanghai/w-sh-fin01/lc-sh-risk"},
			[]string{"cn-hangzhou/w-hz-data01/lc-hz-bi", "cn-shanghai/w-sh-fin01/lc-sh-risk"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			var out, errb bytes.Buffer
			code := run(t.Context(), append([]string{"-demo"}, tc.args...), noEnv, &out, &errb)
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
			}
			// A narrowed run's snapshot has a key of its own.
			keys, _ := filepath.Glob(filepath.Join(dir, "demo-out", "2026", "11", "27", "20261127T090000Z.*.json"))
			if len(keys) != 1 {
				t.Fatalf("narrowed snapshots %v, want one", keys)
			}
			b, err := os.ReadFile(keys[0])
			if err != nil {
				t.Fatal(err)
			}
			s, err := audit.ReadSnapshot(b)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range s.Gateways {
				got = append(got, g.Region+"/"+g.WorkspaceID+"/"+g.GatewayID)
			}
			if !s.Scope.Partial || !sameSet(got, tc.gateways) {
				t.Errorf("audited %v (partial scope %v), want %v", got, s.Scope.Partial, tc.gateways)
			}
			if _, err := os.Stat(filepath.Join(dir, "demo-out", "latest.json")); !os.IsNotExist(err) {
				t.Errorf("a narrowed run moved latest.json (stat: %v)", err)
			}
			if !strings.Contains(out.String(), "(latest.json not moved: ad-hoc run narrowed to part of the scope)") {
				t.Errorf("stdout does not say latest.json was kept:\n%s", out.String())
			}
		})
	}

	// A scope outside the config is refused before any call.
	t.Run("refused before any call", func(t *testing.T) {
		cfg, oss, emu := cliWorld(t, "")
		for _, args := range [][]string{
			{"-region", "cn-beijing"},
			{"-gateway", "cn-beijing/w-1/lc-1"},
			{"-account", "analytics"},
		} {
			var out, errb bytes.Buffer
			if code := run(t.Context(), append([]string{"-config", cfg}, args...), noEnv, &out, &errb); code != exitUsage {
				t.Errorf("%v: exit %d, want %d; stderr:\n%s", args, code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), "livy-token-audit: scope: ") {
				t.Errorf("%v: stderr does not name the scope:\n%s", args, errb.String())
			}
		}
		if emu.Served() != 0 || len(oss.Requests()) != 0 {
			t.Errorf("refused runs made %d API and %d OSS requests, want none", emu.Served(), len(oss.Requests()))
		}
	})
}

func TestHelpListsTheEnvironment(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"AUDIT_CONFIG", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "ALIBABA_CLOUD_ACCESS_KEY_ID", "GOMEMLIMIT",
		"-format", "-version", "-region", "-workspace", "-gateway", "-account"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
}

// TestREADMEConfigErrorExample runs the README's example of a bad config
// and checks the CLI prints exactly what the README shows.
func TestREADMEConfigErrorExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "$ livy-token-audit -config audit.yaml\n"
	_, want, ok := strings.Cut(string(readme), cmd)
	if !ok {
		t.Fatalf("README lost its config error example (%q)", cmd)
	}
	want, _, _ = strings.Cut(want, "```")

	fixture, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "config", "readme", "audit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(fixture)) {
		t.Error("the README does not show testdata/config/readme/audit.yaml as it is")
	}
	t.Chdir(filepath.Join(repoRoot, "testdata", "config", "readme"))
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-config", "audit.yaml"}, noEnv, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if errb.String() != want {
		t.Errorf("the CLI prints:\n%s\nthe README shows:\n%s", errb.String(), want)
	}
}

// The README's full config parses: every key it shows exists, with a value
// of its kind.
func TestREADMEFullConfigParses(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "A full config:\n\n```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README lost its full config")
	}
	if _, err := config.Parse("docs/config.md", []byte(block)); err != nil {
		t.Errorf("docs/config.md's full config: %v", err)
	}
	// And the README's least config.
	front, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok = strings.Cut(string(front), "The least a config needs is a\nscope:\n\n```yaml\n")
	block, _, ok2 = strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README lost its least config")
	}
	if _, err := config.Parse("README.md", []byte(block)); err != nil {
		t.Errorf("the README's least config: %v", err)
	}
}

// docs/delivery.md's two example Slack messages are the demo's snapshots
// (the golden files) rendered as the demo would, without routes: a change
// to the renderer or the demo world that leaves them behind fails here.
func TestREADMESlackExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "docs", "delivery.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, intro := range []string{"The demo's message", "On the demo's second run"} {
		_, rest, ok := strings.Cut(string(readme), intro)
		if !ok {
			t.Fatalf("README lost its example %q", intro)
		}
		_, rest, _ = strings.Cut(rest, "```\n")
		block, _, _ := strings.Cut(rest, "```")
		blocks[intro] = block
	}
	text := string(readme)
	for intro, name := range map[string]string{"The demo's message": "demo-snapshot.json", "On the demo's second run": "demo-snapshot-day2.json"} {
		s := goldenfile.Snapshot(t, filepath.Join(repoRoot, "testdata", "golden", name))
		s.Tool.Version = "(devel)" // as go run . -demo prints it
		key := audit.SnapshotKey(s.AuditedAt)
		loc := delivery.Locations{Snapshot: "demo-out/" + key, Page: "demo-out/" + strings.TrimSuffix(key, ".json") + ".html"}
		msg := slack.Render(notify.NewDigest(s, loc), slack.RenderOptions{MaxItems: 10, Mentions: map[string]string{"alice": "U0ALICE01", "heidi": "U0HEIDI01"}})
		got := msg.PlainText()
		if intro == "On the demo's second run" {
			got, _, _ = strings.Cut(got, "\n\n*:")
			got += "\n"
		}
		if blocks[intro] != got {
			if goldenfile.Update() {
				text = strings.Replace(text, "```\n"+blocks[intro]+"```", "```\n"+got+"```", 1)
				continue
			}
			t.Errorf("README example %q (go test -run TestREADMESlackExamples -update rewrites it):\n%s\nthe demo's snapshot renders:\n%s", intro, blocks[intro], got)
		}
	}
	if goldenfile.Update() && text != string(readme) {
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", "delivery.md"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The README's summary is the first lines of the demo's (the golden file):
// a change to the text summary or the demo world that leaves it behind fails
// here (go test -run TestREADMESummaryExample -update rewrites it).
func TestREADMESummaryExample(t *testing.T) {
	p := filepath.Join(repoRoot, "README.md")
	readme, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const intro = "The demo's first run prints this summary"
	_, rest, ok := strings.Cut(string(readme), intro)
	if !ok {
		t.Fatal("the README lost its summary example")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	golden, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "golden", "demo-stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(golden), "\n")
	want := strings.Join(lines[:min(len(lines), strings.Count(block, "\n"))], "")
	if goldenfile.Update() && block != want {
		text := strings.Replace(string(readme), "```\n"+block+"```", "```\n"+strings.Join(lines[:min(len(lines), 16)], "")+"```", 1)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if block != want {
		t.Errorf("the README's summary:\n%s\nthe demo prints:\n%s", block, want)
	}
}

// -h and the README's CLI section say the same: the same usage lines, and
// the flag table has a row for every flag -h lists and none more; -h names
// every environment variable the program reads.
func TestHelpMatchesTheREADME(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	help := errb.String()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cli, _, _ := strings.Cut(string(readme)[strings.Index(string(readme), "## CLI"):], "\n## ")
	block, _, _ := strings.Cut(cli[strings.Index(cli, "```\n")+4:], "```")
	var usage []string
	for _, l := range strings.Split(help, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "usage:"))
		if strings.HasPrefix(l, "livy-token-audit ") {
			usage = append(usage, l)
		}
	}
	if got, want := strings.Join(usage, "\n"), strings.TrimSpace(block); got != want {
		t.Errorf("-h's usage lines:\n%s\nthe README's:\n%s", got, want)
	}
	helpFlags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1) {
		helpFlags[m[1]] = true
	}
	readmeFlags := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `-([a-z-]+)").FindAllStringSubmatch(cli, -1) {
		readmeFlags[m[1]] = true
	}
	for f := range helpFlags {
		if !readmeFlags[f] {
			t.Errorf("-%s is in -h but not in the README's flag table", f)
		}
	}
	for f := range readmeFlags {
		if !helpFlags[f] && f != "h" {
			t.Errorf("-%s is in the README's flag table but not a flag", f)
		}
	}
	if len(helpFlags) < 15 {
		t.Fatalf("read %d flags from -h: the reading is broken", len(helpFlags))
	}
	for _, v := range []string{"AUDIT_CONFIG", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_SIGNING_SECRET", "webhookEnv", "urlEnv", "secretEnv",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ECS_METADATA_DISABLED", "GOMEMLIMIT", "FC_RUNTIME_API"} {
		if !strings.Contains(help, v) {
			t.Errorf("-h does not name %s", v)
		}
	}
}
