package audit

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
)

func TestNarrow(t *testing.T) {
	t.Parallel()
	accounts := []Account{
		{Scope: Scope{Regions: []string{"cn-hangzhou", "cn-shanghai"},
			Gateways: []GatewayRef{{Region: "cn-beijing", WorkspaceID: "w-bj", GatewayID: "lc-bj"}}}},
		{ID: "111", Name: "analytics", Scope: Scope{Regions: []string{"cn-hangzhou"}, Workspaces: []string{"w-an"}}},
	}
	scope := func(as []Account) string {
		var b strings.Builder
		for _, a := range as {
			fmt.Fprintf(&b, "%s:%v/%v/%d;", cmp.Or(a.Name, "self"), a.Scope.Regions, a.Scope.Workspaces, len(a.Scope.Gateways))
		}
		return b.String()
	}
	tests := []struct {
		n       Narrowing
		want    string
		wantErr string
	}{
		{Narrowing{Regions: []string{"cn-shanghai"}}, "self:[cn-shanghai]/[]/0;", ""},
		{Narrowing{Regions: []string{"cn-beijing"}}, "self:[]/[]/1;", ""},
		{Narrowing{Workspaces: []string{"data-platform"}}, "self:[cn-hangzhou cn-shanghai]/[data-platform]/0;", ""},
		{Narrowing{Workspaces: []string{"w-bj"}}, "self:[cn-hangzhou cn-shanghai]/[w-bj]/1;", ""},
		// The analytics account discovers only w-an: a workspace outside
		// its filter is not audited there.
		{Narrowing{Accounts: []string{"analytics"}, Workspaces: []string{"w-an"}}, "analytics:[cn-hangzhou]/[w-an]/0;", ""},
		{Narrowing{Accounts: []string{"analytics"}, Workspaces: []string{"w-other"}}, "", "workspaces [w-other] are outside the configured scope"},
		{Narrowing{Regions: []string{"eu-central-1"}}, "", `region "eu-central-1" is not in the configured regions`},
		{Narrowing{Accounts: []string{"risk"}}, "", `account "risk" is not a configured account`},
	}
	for _, tc := range tests {
		got, err := Narrow(accounts, tc.n)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: got %v, want an error containing %q", tc.n, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || scope(got) != tc.want):
			t.Errorf("%+v: got %s (%v), want %s", tc.n, scope(got), err, tc.want)
		}
	}
}
