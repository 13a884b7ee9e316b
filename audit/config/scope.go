package config

import (
	"fmt"
	"regexp"

	"livy-token-audit/audit"
)

// Account is one account audited by assuming a RAM role in it. Its ID
// comes from RoleARN; its Name defaults to the ID.
type Account struct {
	audit.Account
	ExternalID string
}

type rawGateway struct {
	Region    string `yaml:"region"`
	Workspace string `yaml:"workspace"`
	Gateway   string `yaml:"gateway"`
	// Kind is livy (the default) or kyuubi.
	Kind string `yaml:"kind"`
}

type rawAccount struct {
	Name       string `yaml:"name"`
	RoleARN    string `yaml:"roleArn"`
	ExternalID string `yaml:"externalId"`
	// DeleteRoleARN is the role tokens of the account are deleted through
	// (actions.delete).
	DeleteRoleARN string       `yaml:"deleteRoleArn"`
	Regions       []string     `yaml:"regions"`
	Workspaces    []string     `yaml:"workspaces"`
	Gateways      []rawGateway `yaml:"gateways"`
}

var (
	regionRe = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	idRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	// roleARNRe is a RAM role ARN: acs:ram::<account id>:role/<name>.
	roleARNRe = regexp.MustCompile(`^acs:ram::(\d{6,20}):role/([A-Za-z0-9._@-]{1,64})$`)
)

// scope validates regions, workspaces, gateways and accounts: at least one
// of regions, gateways and accounts is required.
func (v *validator) scope(c *Config, r raw) {
	c.Workspaces = r.Workspaces
	c.Regions = v.regions("regions", r.Regions)
	c.Gateways = v.gateways("gateways", r.Gateways)
	if len(r.Workspaces) > 0 && len(r.Regions) == 0 {
		v.fail("workspaces", "filters discovered workspaces, so it needs regions")
	}
	c.Accounts = v.accounts(r.Accounts)
	if len(c.Regions) == 0 && len(c.Gateways) == 0 && len(c.Accounts) == 0 {
		v.fail("regions", "missing scope: set regions (audit every gateway there), gateways (explicit region, workspace, gateway) and/or accounts (other accounts, by RAM role)")
	}
}

func (v *validator) regions(field string, raw []string) []string {
	for i, r := range raw {
		if !regionRe.MatchString(r) {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not a region ID like cn-hangzhou", r)
		}
	}
	return audit.Dedupe(raw)
}

func (v *validator) gateways(field string, raw []rawGateway) []audit.GatewayRef {
	var out []audit.GatewayRef
	for i, g := range raw {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case g.Region == "":
			v.fail(f+".region", "missing (each gateway needs region, workspace and gateway)")
		case !regionRe.MatchString(g.Region):
			v.fail(f+".region", "%q is not a region ID like cn-hangzhou", g.Region)
		}
		if !idRe.MatchString(g.Workspace) {
			v.fail(f+".workspace", "missing or not a workspace ID like w-8adde60aa809701f")
		}
		if !idRe.MatchString(g.Gateway) {
			v.fail(f+".gateway", "missing or not a gateway ID like lc-zm4dzdiubu73w2yx")
		}
		ref := audit.GatewayRef{Region: g.Region, WorkspaceID: g.Workspace, GatewayID: g.Gateway}
		switch g.Kind {
		case "", audit.KindLivy:
		case audit.KindKyuubi:
			ref.Kind = audit.KindKyuubi
		default:
			v.fail(f+".kind", "%q is not a kind of gateway: livy (the default) or kyuubi", g.Kind)
		}
		out = append(out, ref)
	}
	return out
}

func (v *validator) accounts(raw []rawAccount) []Account {
	var out []Account
	ids, names := map[string]string{}, map[string]string{}
	for i, a := range raw {
		f := fmt.Sprintf("accounts[%d]", i)
		m := roleARNRe.FindStringSubmatch(a.RoleARN)
		if m == nil {
			v.fail(f+".roleArn", "missing or not a RAM role ARN like acs:ram::1234567890123456:role/livy-token-audit-reader")
			continue
		}
		ac := Account{Account: audit.Account{ID: m[1], Name: a.Name, RoleARN: a.RoleARN}, ExternalID: a.ExternalID}
		if ac.Name == "" {
			ac.Name = ac.ID
		}
		if !nameRe.MatchString(ac.Name) || ac.Name == audit.SelfAccount {
			v.fail(f+".name", "%q is not a name of letters, digits, '.', '_' or '-' (and not %q)", ac.Name, audit.SelfAccount)
		}
		if prev, dup := ids[ac.ID]; dup {
			v.fail(f+".roleArn", "account %s is already audited by %s", ac.ID, prev)
		}
		if prev, dup := names[ac.Name]; dup {
			v.fail(f+".name", "%q is already the name of %s", ac.Name, prev)
		}
		ids[ac.ID], names[ac.Name] = f, f
		ac.Scope = audit.Scope{Regions: v.regions(f+".regions", a.Regions), Workspaces: a.Workspaces, Gateways: v.gateways(f+".gateways", a.Gateways)}
		if len(ac.Scope.Regions) == 0 && len(ac.Scope.Gateways) == 0 {
			v.fail(f, "needs regions (audit every gateway there) and/or gateways")
		}
		if len(a.Workspaces) > 0 && len(a.Regions) == 0 {
			v.fail(f+".workspaces", "filters discovered workspaces, so it needs regions")
		}
		out = append(out, ac)
	}
	return out
}
