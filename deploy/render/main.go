// Command render writes the function's config and RAM policy from s.yaml's
// vars (run by s.yaml's pre-deploy, and by hand to get the policy before
// the first deploy): target/audit.yaml and target/ram-policy.json.
//
//	go run ./deploy/render -region cn-hangzhou -bucket livy-audit-snapshots -prefix livy-audit/ -out target
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"livy-token-audit/internal/deployvars"
)

func main() {
	var v deployvars.Vars
	var out, cfg, policy string
	flag.StringVar(&v.Region, "region", "", "the region (s.yaml vars.region)")
	flag.StringVar(&v.Bucket, "bucket", "", "the OSS bucket of the snapshots (vars.bucket)")
	flag.StringVar(&v.Prefix, "prefix", "", "the prefix of the snapshots in the bucket (vars.prefix)")
	flag.StringVar(&cfg, "config", "deploy/audit.yaml", "the config template")
	flag.StringVar(&policy, "policy", "deploy/ram-policy.json", "the RAM policy template")
	flag.StringVar(&out, "out", "target", "the folder to write audit.yaml and ram-policy.json to")
	flag.Parse()
	if err := render(v, cfg, policy, out); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(2)
	}
}

func render(v deployvars.Vars, cfgPath, policyPath, out string) error {
	tpl, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	c, err := deployvars.Config(tpl, v)
	if err != nil {
		return err
	}
	ptpl, err := os.ReadFile(policyPath)
	if err != nil {
		return err
	}
	p, err := deployvars.Policy(ptpl, v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "audit.yaml"), c, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "ram-policy.json"), p, 0o644)
}
