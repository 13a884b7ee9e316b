package emr

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
)

// Kyuubi lists a workspace's Kyuubi Gateways (JDBC/ODBC SQL) and their
// tokens through the client: the second token source, a fleet.Source of
// kind audit.KindKyuubi. Its calls are the official SDK's (2023-08-08,
// ROA): ListKyuubiServices GET /api/v1/kyuubi/{workspaceId} (no query, as
// the SDK sends it), GetKyuubiService GET …/{kyuubiServiceId},
// ListKyuubiToken GET /api/v1/workspaces/{workspaceId}/kyuubiService/
// {kyuubiServiceId}/token and DeleteKyuubiToken DELETE …/token/{tokenId}
// (both with regionId). Their answers carry no code, unlike Livy's: a code
// that is there must be the success code, and an answer without its data
// is refused (never read as "no gateways" or "no tokens").
//
// A Kyuubi listing masks the tokens' values (dxj****wfg): they are never
// decoded, measured or compared, whatever they look like.
type Kyuubi struct{ c *Client }

var (
	_ fleet.GatedAPI   = (*Kyuubi)(nil)
	_ fleet.Source     = (*Kyuubi)(nil)
	_ fleet.DetailsAPI = (*Kyuubi)(nil)
)

// Kyuubi is the client's Kyuubi source.
func (c *Client) Kyuubi() *Kyuubi { return &Kyuubi{c} }

// Kind is audit.KindKyuubi.
func (k *Kyuubi) Kind() string { return audit.KindKyuubi }

// Gated says that each request passes through the call's gate, as the
// client's do.
func (k *Kyuubi) Gated() {}

// maxMembers bounds a Kyuubi token's memberArns and accountNames.
const maxMembers = 100

// ListGateways lists the Kyuubi services of a workspace.
func (k *Kyuubi) ListGateways(ctx context.Context, region, workspaceID string) ([]audit.Gateway, error) {
	const action = "ListKyuubiServices"
	if err := pathIDs(workspaceID); err != nil {
		return nil, err
	}
	var out []audit.Gateway
	err := k.c.call(ctx, region, action, "/api/v1/kyuubi/"+url.PathEscape(workspaceID), nil, func(b []byte, scrub scrubber) error {
		var body struct {
			envelope
			Data *struct {
				KyuubiServices *[]struct {
					KyuubiServiceID string `json:"kyuubiServiceId"`
					Name            string `json:"name"`
					State           string `json:"state"`
				} `json:"kyuubiServices"`
				LivyComputes *[]struct{} `json:"livyComputes"`
			} `json:"data"`
		}
		if err := decodeJSON(action, b, &body); err != nil {
			return err
		}
		if err := body.check(action, false, scrub); err != nil {
			return err
		}
		switch {
		case body.Data != nil && body.Data.KyuubiServices == nil && body.Data.LivyComputes != nil:
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the answer is a Livy listing (data.livyComputes), not Kyuubi's (data.kyuubiServices)", RequestID: scrub.code(body.RequestID)}
		case body.Data == nil || body.Data.KyuubiServices == nil:
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no data.kyuubiServices", RequestID: scrub.code(body.RequestID)}
		}
		out = make([]audit.Gateway, 0, len(*body.Data.KyuubiServices))
		for _, s := range *body.Data.KyuubiServices {
			id := scrub.text(s.KyuubiServiceID)
			if id == "" {
				return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": a Kyuubi service has no kyuubiServiceId", RequestID: scrub.code(body.RequestID)}
			}
			out = append(out, audit.Gateway{ID: id, Name: scrub.text(s.Name), Status: scrub.text(s.State)})
		}
		return nil
	})
	return out, err
}

// GatewayDetails reads one Kyuubi service's exposure (GetKyuubiService's
// publicEndpointEnabled).
func (k *Kyuubi) GatewayDetails(ctx context.Context, region, workspaceID, serviceID string) (audit.GatewayDetails, error) {
	const action = "GetKyuubiService"
	var out audit.GatewayDetails
	if err := pathIDs(workspaceID, serviceID); err != nil {
		return out, err
	}
	p := "/api/v1/kyuubi/" + url.PathEscape(workspaceID) + "/" + url.PathEscape(serviceID)
	err := k.c.call(ctx, region, action, p, nil, func(b []byte, scrub scrubber) error {
		var body struct {
			envelope
			Data *struct {
				PublicEndpointEnabled *bool `json:"publicEndpointEnabled"`
			} `json:"data"`
		}
		if err := decodeJSON(action, b, &body); err != nil {
			return err
		}
		if err := body.check(action, false, scrub); err != nil {
			return err
		}
		if body.Data == nil || body.Data.PublicEndpointEnabled == nil {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no data.publicEndpointEnabled", RequestID: scrub.code(body.RequestID)}
		}
		out = audit.GatewayDetails{Public: *body.Data.PublicEndpointEnabled}
		return nil
	})
	return out, err
}

// kyuubiToken is a token as ListKyuubiToken returns it: no value field —
// the masked value is never decoded.
type kyuubiToken struct {
	TokenID      string   `json:"tokenId"`
	Name         string   `json:"name"`
	CreatedBy    string   `json:"createdBy"`
	CreateTime   millis   `json:"createTime"`
	ExpireTime   millis   `json:"expireTime"`
	LastUsedTime millis   `json:"lastUsedTime"`
	MemberArns   []string `json:"memberArns"`
	AccountNames []string `json:"accountNames"`
}

func kyuubiTokensPath(workspaceID, serviceID string) string {
	return "/api/v1/workspaces/" + url.PathEscape(workspaceID) + "/kyuubiService/" + url.PathEscape(serviceID) + "/token"
}

// ListTokens lists one Kyuubi service's tokens.
func (k *Kyuubi) ListTokens(ctx context.Context, region, workspaceID, serviceID string) ([]audit.Token, error) {
	const action = "ListKyuubiToken"
	if err := pathIDs(workspaceID, serviceID); err != nil {
		return nil, err
	}
	var out []audit.Token
	err := k.c.call(ctx, region, action, kyuubiTokensPath(workspaceID, serviceID), map[string]string{"regionId": region}, func(b []byte, scrub scrubber) error {
		var body struct {
			envelope
			Data *struct {
				Tokens *[]kyuubiToken `json:"tokens"`
			} `json:"data"`
		}
		if err := decodeJSON(action, b, &body); err != nil {
			return err
		}
		if err := body.check(action, false, scrub); err != nil {
			return err
		}
		if body.Data == nil || body.Data.Tokens == nil {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no data.tokens", RequestID: scrub.code(body.RequestID)}
		}
		in := make([]apiToken, len(*body.Data.Tokens))
		for i, t := range *body.Data.Tokens {
			in[i] = apiToken{TokenID: t.TokenID, Name: t.Name, CreatedByAlt: t.CreatedBy, CreateTime: t.CreateTime, ExpireTime: t.ExpireTime, LastUsedTime: t.LastUsedTime}
		}
		toks, ok := tokens(in, scrub, nil) // no key: no value to measure
		if !ok {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": a token has no tokenId", RequestID: scrub.code(body.RequestID)}
		}
		for i, t := range *body.Data.Tokens {
			toks[i].MemberArns, toks[i].AccountNames = members(t.MemberArns, scrub), members(t.AccountNames, scrub)
		}
		out = toks
		return nil
	})
	return out, err
}

// members are a token's memberArns or accountNames, scrubbed and bounded.
func members(in []string, scrub scrubber) []string {
	var out []string
	for _, m := range in[:min(len(in), maxMembers)] {
		if m = scrub.text(strings.TrimSpace(m)); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// DeleteToken deletes one Kyuubi token (DeleteKyuubiToken). A token, or a
// service, that is not there is already deleted.
func (k *Kyuubi) DeleteToken(ctx context.Context, region, workspaceID, serviceID, tokenID string) error {
	const action = "DeleteKyuubiToken"
	if err := pathIDs(workspaceID, serviceID, tokenID); err != nil {
		return err
	}
	p := kyuubiTokensPath(workspaceID, serviceID) + "/" + url.PathEscape(tokenID)
	err := k.c.callMethod(ctx, "DELETE", region, action, p, map[string]string{"regionId": region}, func(b []byte, scrub scrubber) error {
		var e envelope
		if err := decodeJSON(action, b, &e); err != nil {
			return err
		}
		return e.check(action, false, scrub)
	})
	var ae *audit.APIError
	if errors.As(err, &ae) && strings.HasSuffix(ae.Code, "NotFound") {
		return nil
	}
	return err
}
