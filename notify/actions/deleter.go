package actions

import (
	"context"
	"errors"
	"fmt"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
)

// TokenAPI is the part of the EMR API a delete needs.
type TokenAPI interface {
	ListTokens(ctx context.Context, region, workspaceID, gatewayID string) ([]audit.Token, error)
	DeleteToken(ctx context.Context, region, workspaceID, gatewayID, tokenID string) error
}

// APIDeleter deletes tokens through each account's delete role: the API
// clients signed with it, by account ID ("" for the function's own account,
// actions.delete.roleArn; accounts[].deleteRoleArn for the others) and by
// kind of gateway (livy, kyuubi). An account without one cannot have its
// tokens deleted.
type APIDeleter struct {
	Accounts map[string]map[string]TokenAPI
}

func (d APIDeleter) api(r actionref.Ref) (TokenAPI, error) {
	api := d.Accounts[r.AccountID][audit.KindOf(r.Kind)]
	if api == nil {
		return nil, actionref.ErrNoDeleteRole
	}
	return api, nil
}

// Token re-reads the token r names (nil when it is gone).
func (d APIDeleter) Token(ctx context.Context, r actionref.Ref) (*audit.Token, error) {
	api, err := d.api(r)
	if err != nil {
		return nil, err
	}
	toks, err := api.ListTokens(ctx, r.Region, r.Workspace, r.Gateway)
	var ae *audit.APIError
	if errors.As(err, &ae) && (ae.Code == "LivyComputeNotFound" || ae.Code == "KyuubiServiceNotFound") {
		return nil, nil // the gateway is gone, and its tokens with it
	}
	if err != nil {
		return nil, fmt.Errorf("list the gateway's tokens: %w", err)
	}
	for i := range toks {
		if toks[i].ID == r.Token {
			t := toks[i]
			return &t, nil
		}
	}
	return nil, nil
}

// Delete deletes the token r names.
func (d APIDeleter) Delete(ctx context.Context, r actionref.Ref) error {
	api, err := d.api(r)
	if err != nil {
		return err
	}
	return api.DeleteToken(ctx, r.Region, r.Workspace, r.Gateway, r.Token)
}
