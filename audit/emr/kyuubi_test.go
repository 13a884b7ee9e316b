package emr

import (
	"fmt"
	"strings"
	"testing"

	"livy-token-audit/audit"
	"livy-token-audit/internal/standin/emulator"
)

const kyuubiValue = "kyuubi-SECRET-value-0123456789abcdef"

// The Kyuubi source calls the official SDK's paths (ListKyuubiServices
// with no regionId, as the SDK sends it), reads the services, a service's
// exposure and its tokens with their members, and never keeps or measures
// a value — masked, or not.
func TestKyuubiSource(t *testing.T) {
	t.Parallel()
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Kyuubi = []*emulator.Gateway{{ID: "kb-1", Name: "bi-sql", Status: "RUNNING", EnablePublic: true, Tokens: []*emulator.Token{
		{TokenID: "kt-1", Name: "tableau", Token: kyuubiValue, CreatedBy: "erin", MemberArns: []string{"acs:emr::w-1:member/2001"}, AccountNames: []string{"erin@acme"}},
		{TokenID: "kt-2", Name: "raw", Token: kyuubiValue, Unmasked: true},
	}}}
	c, emu := setup(t, w, nil)
	c.opts.SecretKey, _ = audit.NewSecretKey()
	k := c.Kyuubi()
	gws, err := k.ListGateways(t.Context(), "cn-hangzhou", "w-1")
	if err != nil || len(gws) != 1 || gws[0] != (audit.Gateway{ID: "kb-1", Name: "bi-sql", Status: "RUNNING"}) {
		t.Fatalf("ListGateways: %+v, %v", gws, err)
	}
	d, err := k.GatewayDetails(t.Context(), "cn-hangzhou", "w-1", "kb-1")
	if err != nil || !d.Public {
		t.Errorf("details: %+v, %v; want public", d, err)
	}
	toks, err := k.ListTokens(t.Context(), "cn-hangzhou", "w-1", "kb-1")
	if err != nil || len(toks) != 2 {
		t.Fatalf("ListTokens: %+v, %v", toks, err)
	}
	if toks[0].CreatedBy != "erin" || len(toks[0].MemberArns) != 1 || toks[0].AccountNames[0] != "erin@acme" {
		t.Errorf("token: %+v", toks[0])
	}
	for _, tk := range toks {
		if tk.Secret.Known() {
			t.Errorf("%s: a Kyuubi value was measured", tk.ID)
		}
	}
	if s := fmt.Sprintf("%+v %#v", toks, toks); strings.Contains(s, "SECRET") || strings.Contains(s, "kyu*") {
		t.Error("a Kyuubi value (masked or not) survived decoding")
	}
	if err := k.DeleteToken(t.Context(), "cn-hangzhou", "w-1", "kb-1", "kt-1"); err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteToken(t.Context(), "cn-hangzhou", "w-1", "kb-1", "kt-1"); err != nil {
		t.Errorf("a second delete of a token that is gone: %v, want nil (already deleted)", err)
	}
	want := []string{
		"ListKyuubiServices /api/v1/kyuubi/w-1 ",
		"GetKyuubiService /api/v1/kyuubi/w-1/kb-1 ",
		"ListKyuubiToken /api/v1/workspaces/w-1/kyuubiService/kb-1/token cn-hangzhou",
		"DeleteKyuubiToken /api/v1/workspaces/w-1/kyuubiService/kb-1/token/kt-1 cn-hangzhou",
	}
	reqs := emu.Requests()
	for i, w := range want {
		if i >= len(reqs) || reqs[i].Action+" "+reqs[i].Path+" "+reqs[i].Region != w {
			t.Errorf("request %d: %+v, want %s", i, reqs[min(i, len(reqs)-1)], w)
		}
	}
}

// A Livy listing that answers with Kyuubi's shape, or a Kyuubi listing
// with Livy's, is a failed listing naming the mismatch.
func TestKindShapesAreNotMixed(t *testing.T) {
	t.Parallel()
	scrub := scrubber{}
	if _, err := decodeGateways([]byte(`{"code":"1000000","requestId":"r","data":{"kyuubiServices":[{"kyuubiServiceId":"kb-1"}]}}`), scrub); err == nil ||
		!strings.Contains(err.Error(), "the answer is a Kyuubi listing") {
		t.Errorf("Livy listing with Kyuubi's shape: %v", err)
	}
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].KyuubiFail = &emulator.Failure{Status: 200, Body: `{"requestId":"r","data":{"livyComputes":[]}}`}
	c, _ := setup(t, w, nil)
	if _, err := c.Kyuubi().ListGateways(t.Context(), "cn-hangzhou", "w-1"); err == nil || !strings.Contains(err.Error(), "the answer is a Livy listing") {
		t.Errorf("Kyuubi listing with Livy's shape: %v", err)
	}
}
