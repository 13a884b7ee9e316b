package emulator

import (
	"net/http"
	"slices"
	"strings"
)

// The Kyuubi Gateways' calls, as the official SDK's models answer them: no
// code or message (unlike Livy's), the services in data.kyuubiServices,
// the tokens in data.tokens with createdBy (camel case), memberArns,
// accountNames, and the value masked (dxj**********wfg). ListKyuubiServices
// and GetKyuubiService carry no regionId (the SDK sends none): the
// workspace is found by its ID in any region; the token calls carry it.

// kyuubiWorkspace is the workspace the request names: in its regionId's
// region, or in any region when it has none.
func kyuubiWorkspace(world *World, r *http.Request) *Workspace {
	if world == nil {
		return nil
	}
	if r.URL.Query().Get("regionId") != "" {
		return workspace(world, r)
	}
	for _, reg := range world.Regions {
		for _, ws := range reg.Workspaces {
			if ws.ID == r.PathValue("ws") {
				return ws
			}
		}
	}
	return nil
}

func (s *Server) listKyuubi(w http.ResponseWriter, r *http.Request) {
	const action = "ListKyuubiServices"
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return
	}
	ws := kyuubiWorkspace(world, r)
	if ws == nil {
		s.record(r, action, 404)
		roaError(w, r, 404, "WorkspaceNotFound", "The workspace does not exist.")
		return
	}
	if s.fail(w, r, action, ws.KyuubiFail) {
		return
	}
	type svc struct {
		ID             string `json:"kyuubiServiceId"`
		Name           string `json:"name"`
		State          string `json:"state"`
		PublicEndpoint string `json:"publicEndpoint,omitempty"`
	}
	list := []svc{}
	for _, g := range ws.Kyuubi {
		pub := ""
		if g.EnablePublic {
			pub = "kyuubi-" + g.ID + ".public.example"
		}
		list = append(list, svc{g.ID, g.Name, g.Status, pub})
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r), "data": map[string]any{"kyuubiServices": list}})
}

// kyuubiOf authenticates a request for action on the Kyuubi service its
// path names and applies its injected failure; nil when refused.
func (s *Server) kyuubiOf(w http.ResponseWriter, r *http.Request, action string, failure func(*Gateway) *Failure) *Gateway {
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return nil
	}
	var g *Gateway
	if ws := kyuubiWorkspace(world, r); ws != nil {
		if i := slices.IndexFunc(ws.Kyuubi, func(x *Gateway) bool { return x.ID == r.PathValue("gw") }); i >= 0 {
			g = ws.Kyuubi[i]
		}
	}
	if g == nil {
		s.record(r, action, 404)
		roaError(w, r, 404, "KyuubiServiceNotFound", "The Kyuubi service does not exist.")
		return nil
	}
	if s.fail(w, r, action, failure(g)) {
		return nil
	}
	return g
}

func (s *Server) getKyuubi(w http.ResponseWriter, r *http.Request) {
	const action = "GetKyuubiService"
	g := s.kyuubiOf(w, r, action, func(g *Gateway) *Failure { return g.DetailsFail })
	if g == nil {
		return
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r), "data": map[string]any{
		"kyuubiServiceId": g.ID, "name": g.Name, "state": g.Status, "publicEndpointEnabled": g.EnablePublic,
	}})
}

// mask is a Kyuubi listing's rendering of a value: its first and last
// three characters around stars.
func mask(v string) string {
	if len(v) <= 6 {
		return strings.Repeat("*", len(v))
	}
	return v[:3] + strings.Repeat("*", 10) + v[len(v)-3:]
}

func (s *Server) listKyuubiTokens(w http.ResponseWriter, r *http.Request) {
	const action = "ListKyuubiToken"
	g := s.kyuubiOf(w, r, action, func(g *Gateway) *Failure { return g.Fail })
	if g == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	toks := g.Tokens
	s.mu.Unlock()
	type wireToken struct {
		TokenID      string   `json:"tokenId"`
		Name         string   `json:"name"`
		Token        string   `json:"token"`
		CreatedBy    string   `json:"createdBy"`
		CreateTime   any      `json:"createTime,omitempty"`
		ExpireTime   any      `json:"expireTime,omitempty"`
		LastUsedTime any      `json:"lastUsedTime,omitempty"`
		MemberArns   []string `json:"memberArns,omitempty"`
		AccountNames []string `json:"accountNames,omitempty"`
		SparkRole    []string `json:"sparkRole,omitempty"`
	}
	list := make([]wireToken, 0, len(toks))
	for _, t := range toks {
		if t.AppearsAt != nil && now.Before(*t.AppearsAt) || t.RevokedAt != nil && !now.Before(*t.RevokedAt) {
			continue
		}
		value := mask(t.Token)
		if t.Unmasked {
			value = t.Token
		}
		last := t.LastUsedTime
		for _, u := range t.Uses {
			if !u.After(now) && (!last.set || u.UnixMilli() > last.ms) {
				last = At(u)
			}
		}
		wt := wireToken{TokenID: t.TokenID, Name: s.echo(r, t.Name), Token: value, CreatedBy: t.CreatedBy, MemberArns: t.MemberArns, AccountNames: t.AccountNames,
			SparkRole: []string{"Developer"}}
		for _, f := range []struct {
			v   Time
			out *any
		}{{t.CreateTime, &wt.CreateTime}, {t.ExpireTime, &wt.ExpireTime}, {last, &wt.LastUsedTime}} {
			if f.v.set {
				*f.out = f.v.value()
			}
		}
		list = append(list, wt)
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r), "data": map[string]any{"tokens": list}})
}

func (s *Server) deleteKyuubiToken(w http.ResponseWriter, r *http.Request) {
	const action = "DeleteKyuubiToken"
	g := s.kyuubiOf(w, r, action, func(g *Gateway) *Failure { return g.Fail })
	if g == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	i := slices.IndexFunc(g.Tokens, func(t *Token) bool {
		return t.TokenID == r.PathValue("token") && (t.AppearsAt == nil || !now.Before(*t.AppearsAt)) && (t.RevokedAt == nil || now.Before(*t.RevokedAt))
	})
	if i >= 0 {
		g.Tokens = slices.Delete(slices.Clone(g.Tokens), i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		s.record(r, action, 404)
		roaError(w, r, 404, "KyuubiTokenNotFound", "The Kyuubi token does not exist.")
		return
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r)})
}
