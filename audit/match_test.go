package audit

import "testing"

// A slice covers a failure when every gateway the failure may hide is in
// it: a region's failure may hide a gateway of any of its workspaces.
func TestMatchCovers(t *testing.T) {
	t.Parallel()
	region := ScopeError{Region: "cn-hangzhou", Code: "Forbidden.RAM"}
	workspace := ScopeError{Region: "cn-hangzhou", WorkspaceID: "w-fin", WorkspaceName: "finance", Code: "Forbidden.RAM"}
	account := ScopeError{AccountID: "222", AccountName: "finance", Code: "AssumeRoleFailed"}
	for _, tc := range []struct {
		name string
		m    Match
		e    ScopeError
		want bool
	}{
		{"a workspace route and its workspace's failure", Match{Workspaces: []string{"finance"}}, workspace, true},
		{"a workspace route and its region's failure", Match{Workspaces: []string{"finance"}}, region, false},
		{"a region route and its region's failure", Match{Regions: []string{"cn-*"}}, region, true},
		{"an account route and its account's failure", Match{Accounts: []string{"finance"}}, account, true},
		{"a region route and an account's failure", Match{Regions: []string{"cn-hangzhou"}}, account, false},
		{"a gateway route covers nothing", Match{Gateways: []string{"lc-*"}}, workspace, false},
		{"another account's route", Match{Accounts: []string{"finance"}}, region, false},
		{"everything", Match{}, region, true},
	} {
		if got := tc.m.Covers(&tc.e); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
