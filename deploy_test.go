package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"livy-token-audit/notify/actions"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"livy-token-audit/audit/config"
	"livy-token-audit/audit/roles"
	"livy-token-audit/internal/deployvars"
)

// sYAML is the part of s.yaml the checks below read.
type sYAML struct {
	Edition   string            `yaml:"edition"`
	Vars      map[string]string `yaml:"vars"`
	Resources map[string]struct {
		Component string `yaml:"component"`
		Actions   struct {
			PreDeploy []struct {
				Run  string `yaml:"run"`
				Path string `yaml:"path"`
			} `yaml:"pre-deploy"`
		} `yaml:"actions"`
		Props map[string]any `yaml:"props"`
	} `yaml:"resources"`
}

// deployEnv is the environment docs/deploy.md says a deploy needs: the
// function's role, and nothing else (every other variable has a default).
var deployEnv = map[string]string{"AUDIT_ROLE_ARN": "acs:ram::1234567890123456:role/livy-token-audit"}

// envRef is a ${env('X')} or ${env('X', 'default')} of s.yaml.
var envRef = regexp.MustCompile(`\$\{env\('([A-Za-z_][A-Za-z0-9_]*)'(?:\s*,\s*'([^']*)')?\)\}`)

// loadSYAML reads s.yaml with its ${vars.X} and ${env(...)} resolved, as
// Serverless Devs resolves them, with deployEnv as the environment: an
// env() without a default that deployEnv does not set is an error, as it
// is for Serverless Devs ("env('X') not found": an empty variable counts
// as missing).
func loadSYAML(t *testing.T) (sYAML, map[string]any) {
	t.Helper()
	b, err := os.ReadFile("s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b = envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		sm := envRef.FindSubmatch(m)
		// s.yaml's env() are whole values: the value, quoted.
		if v := deployEnv[string(sm[1])]; v != "" {
			return []byte(strconv.Quote(v))
		}
		if !bytes.Contains(m, []byte(",")) {
			t.Errorf("s.yaml: env('%s') not found: Serverless Devs stops there; give it a default (${env('%s', '')}) or list it in docs/deploy.md as needed", sm[1], sm[1])
		}
		return []byte(strconv.Quote(string(sm[2])))
	})
	var s sYAML
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`\$\{vars\.(\w+)\}`).ReplaceAllFunc(b, func(m []byte) []byte {
		v, ok := s.Vars[string(m[len("${vars."):len(m)-1])]
		if !ok {
			t.Errorf("s.yaml uses %s, which vars does not set", m)
		}
		return []byte(v)
	})
	s = sYAML{}
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Edition != "3.0.0" || len(s.Resources) != 1 {
		t.Fatalf("s.yaml: edition %q with %d resources, want 3.0.0 with one", s.Edition, len(s.Resources))
	}
	for _, r := range s.Resources {
		if r.Component != "fc3" {
			t.Fatalf("component %q, want fc3", r.Component)
		}
		return s, r.Props
	}
	return s, nil
}

// TestSYAMLMatchesFC3Schema validates the props against the fc3 component's
// own JSON Schema (testdata/schemas, from devsapp/fc3), and refuses keys the
// schema does not know (it allows any, so a typo would pass unnoticed).
func TestSYAMLMatchesFC3Schema(t *testing.T) {
	_, props := loadSYAML(t)
	f, err := os.Open("testdata/schemas/fc3-props.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("fc3-props.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("fc3-props.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	// YAML → JSON, so the validator sees JSON types.
	raw, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("s.yaml props do not match the fc3 schema:\n%v", err)
	}
	known := doc.(map[string]any)["properties"].(map[string]any)
	for k := range props {
		if _, ok := known[k]; !ok {
			t.Errorf("props.%s is not a property of the fc3 component", k)
		}
	}

	// The schema can fail: a wrong runtime and a memory size that is not a
	// multiple of 64 are refused.
	bad := map[string]any{}
	for k, v := range props {
		bad[k] = v
	}
	bad["runtime"], bad["memorySize"] = "go2", 100
	raw, _ = json.Marshal(bad)
	inst, _ = jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err := sch.Validate(inst); err == nil {
		t.Error("the schema accepted runtime go2 and memorySize 100")
	}
}

func TestSYAMLMatchesTheCode(t *testing.T) {
	s, props := loadSYAML(t)
	if props["runtime"] != "go1" {
		t.Errorf("runtime %v, want go1 (fc-runtime-go-sdk needs it)", props["runtime"])
	}
	var pre string
	for _, r := range s.Resources {
		if len(r.Actions.PreDeploy) != 1 {
			t.Fatal("want one pre-deploy action that builds the code package")
		}
		pre = r.Actions.PreDeploy[0].Run
	}
	m := regexp.MustCompile(`go build .*-o (\S+)/(\S+) \.`).FindStringSubmatch(pre)
	if m == nil {
		t.Fatalf("pre-deploy %q does not build the binary", pre)
	}
	if "./"+m[1] != props["code"] || m[2] != props["handler"] {
		t.Errorf("pre-deploy builds %s/%s; code %v, handler %v must match", m[1], m[2], props["code"], props["handler"])
	}
	render := "go run ./deploy/render -region " + s.Vars["region"] + " -bucket " + s.Vars["bucket"] + " -prefix " + s.Vars["prefix"] + " -out " + m[1]
	for _, want := range []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", render} {
		if !strings.Contains(pre, want) {
			t.Errorf("pre-deploy lacks %q", want)
		}
	}
	env := props["environmentVariables"].(map[string]any)
	if env["AUDIT_CONFIG"] != "/code/audit.yaml" {
		t.Errorf("AUDIT_CONFIG %v, want the packaged /code/audit.yaml", env["AUDIT_CONFIG"])
	}
	if to, _ := props["timeout"].(int); to != 600 {
		t.Errorf("timeout %v, want 600", props["timeout"])
	}
	triggers := props["triggers"].([]any)
	if len(triggers) != 2 {
		t.Fatalf("want two triggers (the timer, Slack's actions), got %d", len(triggers))
	}
	raw, _ := os.ReadFile("s.yaml")
	for _, v := range []string{"SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} {
		if env[v] != nil && env[v] != "" || !bytes.Contains(raw, []byte("${env('"+v+"', '')}")) {
			t.Errorf("%s %v: want it from the deployer's environment, empty when it is not set", v, env[v])
		}
	}
	// Slack's endpoint: anonymous (Slack cannot sign FC's way; the handler
	// verifies Slack's signature), POST only.
	httpTr := triggers[1].(map[string]any)
	htc := httpTr["triggerConfig"].(map[string]any)
	if httpTr["triggerType"] != "http" || htc["authType"] != "anonymous" || fmt.Sprint(htc["methods"]) != "[POST]" {
		t.Errorf("trigger %v: want an anonymous http trigger, POST only", httpTr)
	}
	tr := triggers[0].(map[string]any)
	tc := tr["triggerConfig"].(map[string]any)
	cron := tc["cronExpression"].(string)
	fields := strings.Fields(regexp.MustCompile(`^CRON_TZ=\S+\s+`).ReplaceAllString(cron, ""))
	if tr["triggerType"] != "timer" || len(fields) != 6 || !strings.HasPrefix(cron, "CRON_TZ=") {
		t.Errorf("trigger %v: want a timer with a CRON_TZ= six-field cron", tr)
	}
	if _, _, err := parseEvent([]byte(`{"triggerTime":"2026-11-27T01:00:00Z","triggerName":"daily","payload":`+jsonString(tc["payload"].(string))+`}`), demoStart); err != nil {
		t.Errorf("the timer's payload is refused by the handler: %v", err)
	}
	// The packaged config (rendered from s.yaml's vars) is valid, and the
	// function's timeout leaves room for its deadline reserve.
	vars := deployvars.Vars{Region: s.Vars["region"], Bucket: s.Vars["bucket"], Prefix: s.Vars["prefix"]}
	if props["region"] != vars.Region {
		t.Errorf("the function's region %v, want vars.region %s", props["region"], vars.Region)
	}
	tpl, err := os.ReadFile("deploy/audit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := deployvars.Config(tpl, vars)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("audit.yaml", rendered)
	if err != nil {
		t.Fatalf("the packaged config: %v", err)
	}
	if cfg.API.DeadlineReserve*4 > 600e9 {
		t.Error("deadlineReserve takes more than a quarter of the timeout")
	}
	// The RAM policy (rendered from the same vars) grants the OSS prefix the
	// config writes to.
	ptpl, err := os.ReadFile("deploy/ram-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := deployvars.Policy(ptpl, vars)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Action   []string
			Resource string
		}
	}
	if err := json.Unmarshal(pol, &p); err != nil {
		t.Fatal(err)
	}
	var actions []string
	resources := map[string]string{} // OSS action -> resource
	for _, st := range p.Statement {
		actions = append(actions, st.Action...)
		for _, a := range st.Action {
			if strings.HasPrefix(a, "oss:") {
				resources[a] = st.Resource
			}
		}
	}
	sort.Strings(actions)
	want := []string{"cms:PutCustomMetric", "emr-serverless-spark:GetKyuubiService", "emr-serverless-spark:GetLivyCompute", "emr-serverless-spark:ListKyuubiServices",
		"emr-serverless-spark:ListKyuubiToken", "emr-serverless-spark:ListLivyCompute", "emr-serverless-spark:ListLivyComputeToken", "emr-serverless-spark:ListMembers", "emr-serverless-spark:ListWorkspaces",
		"oss:GetObject", "oss:PutObject", "ram:GetDefaultDomain", "ram:GetUser", "ram:ListUsersInRecycleBin"} // nothing is ever deleted: claims are append-only
	if !slices.Equal(actions, want) {
		t.Errorf("policy actions %v, want exactly %v", actions, want)
	}
	o := cfg.Snapshot.OSS
	if o == nil || o.Bucket != vars.Bucket || o.Region != vars.Region || o.Prefix != vars.Prefix {
		t.Fatalf("the packaged config's snapshot.oss %+v, want s.yaml's vars %+v", o, vars)
	}
	prefix := "acs:oss:*:*:" + o.Bucket + "/" + o.Prefix
	for action, want := range map[string]string{"oss:PutObject": prefix + "*", "oss:GetObject": prefix + "*"} {
		if resources[action] != want {
			t.Errorf("policy: %s on %q, want %q (the config's bucket and prefix)", action, resources[action], want)
		}
	}
}

// TestMultiAccountPolicies checks the RAM documents for other accounts: the
// reader role (trusting the auditing function's role, allowed the three EMR
// list actions and GetLivyCompute, and nothing else) and the function's permission to assume it.
func TestMultiAccountPolicies(t *testing.T) {
	read := func(name string) (p struct {
		Version   string
		Statement []struct {
			Effect    string
			Action    any
			Resource  any
			Principal map[string][]string
			Condition map[string]map[string]string
		}
	}) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Version != "1" || len(p.Statement) != 1 || p.Statement[0].Effect != "Allow" {
			t.Fatalf("%s: got %+v, want one Allow statement, version 1", name, p)
		}
		return p
	}
	trust := read("ram-reader-trust-policy.json").Statement[0]
	if trust.Action != "sts:AssumeRole" || len(trust.Principal["RAM"]) != 1 || !strings.HasSuffix(trust.Principal["RAM"][0], ":role/livy-token-audit") ||
		trust.Condition["StringEquals"]["sts:ExternalId"] == "" {
		t.Errorf("trust policy: got %+v, want sts:AssumeRole by the function's role, with an ExternalId condition", trust)
	}
	reader := read("ram-reader-policy.json").Statement[0]
	if fmt.Sprint(reader.Action) != "[emr-serverless-spark:ListWorkspaces emr-serverless-spark:ListLivyCompute emr-serverless-spark:GetLivyCompute emr-serverless-spark:ListLivyComputeToken "+
		"emr-serverless-spark:ListKyuubiServices emr-serverless-spark:GetKyuubiService emr-serverless-spark:ListKyuubiToken emr-serverless-spark:ListMembers "+
		"ram:GetDefaultDomain ram:GetUser ram:ListUsersInRecycleBin]" {
		t.Errorf("reader policy: got %v, want exactly the read actions (the workspaces, each kind's gateways, details and tokens, the members; RAM users)", reader.Action)
	}
	assume := read("ram-policy-assume.json").Statement[0]
	if assume.Action != "sts:AssumeRole" || fmt.Sprint(assume.Resource) != "[acs:ram::*:role/livy-token-audit-reader acs:ram::*:role/livy-token-audit-deleter]" {
		t.Errorf("assume policy: got %+v, want sts:AssumeRole on the reader and deleter roles only", assume)
	}
	// The delete role: the one list a delete re-reads with, and the delete.
	deleter := read("ram-deleter-policy.json").Statement[0]
	if fmt.Sprint(deleter.Action) != "[emr-serverless-spark:ListLivyComputeToken emr-serverless-spark:DeleteLivyComputeToken emr-serverless-spark:ListKyuubiToken emr-serverless-spark:DeleteKyuubiToken]" {
		t.Errorf("deleter policy: got %v, want exactly each kind's token list and delete", deleter.Action)
	}
	// The session name the trust policy's ActionTrail shows is the code's.
	if roles.SessionName != "livy-token-audit" {
		t.Errorf("session name %q", roles.SessionName)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestEnvironmentVariablesAreDocumented reads the code for every environment
// variable it looks up and checks the README names each one.
func TestEnvironmentVariablesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("docs", "function-compute.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`[gG]etenv\("([A-Z_][A-Z0-9_]*)"\)`)
	found := map[string]bool{}
	err = filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range re.FindAllSubmatch(b, -1) {
			found[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"AUDIT_CONFIG", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_API_URL", "FC_RUNTIME_API"} {
		if !found[must] {
			t.Errorf("the scan did not find %s: the check is broken", must)
		}
	}
	for v := range found {
		if !bytes.Contains(readme, []byte("`"+v+"`")) {
			t.Errorf("docs/function-compute.md does not document %s", v)
		}
	}
	_, props := loadSYAML(t)
	for k := range props["environmentVariables"].(map[string]any) {
		if !found[k] {
			t.Errorf("s.yaml sets %s, which the code never reads", k)
		}
	}
}

// TestPreDeployPackage checks the code package s.yaml's pre-deploy makes:
// a static linux/amd64 binary named like the handler, and the config
// beside it. It reads the command rather than running it: -trimpath would
// rebuild the standard library and every dependency (minutes on a cold
// cache), so the binary is the tests' shared build (buildBinary, built
// with the same CGO_ENABLED=0), and the command's other parts are checked
// as text.
func TestPreDeployPackage(t *testing.T) {
	t.Parallel()
	s, props := loadSYAML(t)
	var run string
	for _, r := range s.Resources {
		run = r.Actions.PreDeploy[0].Run
	}
	steps := strings.Split(run, " && ")
	var build, render []string
	for _, st := range steps {
		f := strings.Fields(st)
		switch {
		case slices.Contains(f, "go") && slices.Contains(f, "build"):
			build = f
		case len(f) > 3 && f[0] == "go" && f[1] == "run" && f[2] == "./deploy/render":
			render = f
		}
	}
	if build == nil || render == nil {
		t.Fatalf("pre-deploy %q: want a go build and the config rendered", run)
	}
	env := map[string]string{}
	for _, f := range build {
		if k, v, ok := strings.Cut(f, "="); ok && k == strings.ToUpper(k) && !strings.HasPrefix(k, "-") {
			env[k] = v
		}
	}
	if env["GOOS"] != "linux" || env["GOARCH"] != "amd64" || env["CGO_ENABLED"] != "0" {
		t.Errorf("pre-deploy builds with %v, want GOOS=linux GOARCH=amd64 CGO_ENABLED=0 (a static binary for FC's go1 runtime)", env)
	}
	out := build[slices.Index(build, "-o")+1]
	if out != props["code"].(string)[2:]+"/"+props["handler"].(string) || build[len(build)-1] != "." {
		t.Errorf("pre-deploy builds %s, want code/handler %v/%v from the module root", out, props["code"], props["handler"])
	}
	if render[len(render)-1] != filepath.Dir(out) {
		t.Errorf("pre-deploy renders the config into %s, want it beside the binary", render[len(render)-1])
	}

	bin := buildBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if runtime.GOARCH == "amd64" && (f.Machine != elf.EM_X86_64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX) {
		t.Errorf("binary is %v/%v, want linux x86-64", f.Machine, f.OSABI)
	}
	// The tests' binary is static when the test build has no cgo (as
	// pre-deploy's CGO_ENABLED=0 makes it); with cgo it may not be.
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(bi.Settings, debug.BuildSetting{Key: "CGO_ENABLED", Value: "0"}) {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary is dynamically linked with CGO_ENABLED=0")
			}
		}
	}
	// The render command itself, as pre-deploy runs it.
	dir := t.TempDir()
	cmd := exec.Command("go", append(render[1:len(render)-1], dir)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	if _, err := config.Load(filepath.Join(dir, "audit.yaml")); err != nil {
		t.Errorf("the rendered config: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ram-policy.json")); err != nil || !bytes.Contains(b, []byte(deployvars.OSSResource(deployvars.Vars{Bucket: s.Vars["bucket"], Prefix: s.Vars["prefix"]}))) {
		t.Errorf("the rendered policy: %v\n%s", err, b)
	}
}

// deploy/slack-app.yaml asks for exactly the scopes the features use (as
// the README's delivery guarantee names them), in a manifest Slack takes.
func TestSlackAppManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("deploy", "slack-app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Metadata struct {
			Major int `yaml:"major_version"`
		} `yaml:"_metadata"`
		Display struct {
			Name string `yaml:"name"`
		} `yaml:"display_information"`
		Features struct {
			BotUser struct {
				DisplayName string `yaml:"display_name"`
			} `yaml:"bot_user"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				Enabled    bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Major != 1 || m.Display.Name == "" || m.Features.BotUser.DisplayName == "" {
		t.Errorf("not a complete manifest: %+v", m)
	}
	// The buttons: interactivity on, the Request URL ending in the path
	// the handler serves.
	if it := m.Settings.Interactivity; !it.Enabled || !strings.HasPrefix(it.RequestURL, "https://") || !strings.HasSuffix(it.RequestURL, actions.Path) {
		t.Errorf("interactivity %+v, want it on with an https Request URL ending in %s", it, actions.Path)
	}
	want := []string{"channels:history", "channels:read", "chat:write", "groups:history", "groups:read", "im:history", "im:write", "incoming-webhook", "users:read", "users:read.email"}
	got := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot))
	if !slices.Equal(got, want) {
		t.Errorf("scopes %v, want %v", got, want)
	}
	readme, _ := os.ReadFile(filepath.Join("docs", "delivery.md"))
	for _, s := range want {
		if s != "incoming-webhook" && !bytes.Contains(readme, []byte("`"+s+"`")) {
			t.Errorf("docs/delivery.md does not say what %s is for", s)
		}
	}
}

// Serverless Devs itself (the s CLI, from npm: .ci/run installs it) gets
// through `s preview` of s.yaml with only the variables docs/deploy.md says
// are needed, as a new user's deploy does; with AUDIT_ROLE_ARN missing it
// stops naming it. Without s the test skips (CI sets LIVY_AUDIT_REQUIRE_S,
// which turns the skip into a failure).
func TestServerlessDevsPreview(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the s CLI")
	}
	s := os.Getenv("LIVY_AUDIT_S")
	if s == "" {
		s, _ = exec.LookPath("s")
	}
	if s == "" {
		if os.Getenv("LIVY_AUDIT_REQUIRE_S") != "" {
			t.Fatal("no s CLI (LIVY_AUDIT_S, or s on PATH): npm install @serverless-devs/s@3.1.10")
		}
		t.Skip("no s CLI (npm install @serverless-devs/s@3.1.10, then LIVY_AUDIT_S=node_modules/.bin/s)")
	}
	t.Parallel()
	preview := func(env map[string]string) (string, error) {
		home := sHome(t)
		cmd := exec.Command(s, "preview", "-t", "s.yaml")
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		// s may leave a child writing to $HOME/.s after it exits: it runs
		// in a process group of its own, which is killed once it is done.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.CombinedOutput()
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return string(out), err
	}
	out, err := preview(deployEnv)
	if err != nil || !strings.Contains(out, deployEnv["AUDIT_ROLE_ARN"]) || !strings.Contains(out, "slack-actions") {
		t.Fatalf("s preview with the documented variables: %v\n%s", err, out)
	}
	if out, err := preview(nil); err == nil || !strings.Contains(out, "AUDIT_ROLE_ARN") {
		t.Errorf("s preview without AUDIT_ROLE_ARN: %v; want it to stop naming it\n%s", err, out)
	}
}

// sHome is a HOME for the s CLI, removed when the test ends. A child s
// left behind may still be writing into it for a moment: the removal is
// tried again for a few seconds, and what cannot be removed is said, not
// failed (it is a temporary folder).
func sHome(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "s-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Logf("left %s: %v", dir, err)
				return
			}
		}
	})
	return dir
}
