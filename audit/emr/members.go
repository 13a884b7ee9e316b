package emr

import (
	"context"
	"net/url"
	"strconv"

	"livy-token-audit/audit"
)

// maxMemberPages bounds ListMembers' pages: a listing that never ends is
// cut there, and is an error.
const maxMemberPages = 50

// ListMembers lists a workspace's members (ListMembers, GET
// /api/v1/auth/{workspaceId}/members, paged with nextToken as the
// official SDK calls it): each member's principal name and roles.
func (c *Client) ListMembers(ctx context.Context, region, workspaceID string) ([]audit.Member, error) {
	const action = "ListMembers"
	if err := pathIDs(workspaceID); err != nil {
		return nil, err
	}
	var out []audit.Member
	next := ""
	for range maxMemberPages {
		q := map[string]string{"regionId": region, "maxResults": strconv.Itoa(c.opts.PageSize)}
		if next != "" {
			q["nextToken"] = next
		}
		var nextToken string
		err := c.call(ctx, region, action, "/api/v1/auth/"+url.PathEscape(workspaceID)+"/members", q, func(b []byte, scrub scrubber) error {
			var body struct {
				envelope
				Members *[]struct {
					UserName string `json:"userName"`
					Roles    []struct {
						RoleName string `json:"roleName"`
						RoleArn  string `json:"roleArn"`
					} `json:"roles"`
				} `json:"members"`
				NextToken string `json:"nextToken"`
			}
			if err := decodeJSON(action, b, &body); err != nil {
				return err
			}
			if err := body.check(action, false, scrub); err != nil {
				return err
			}
			if body.Members == nil {
				return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no members", RequestID: scrub.code(body.RequestID)}
			}
			for _, m := range *body.Members {
				mem := audit.Member{UserName: scrub.text(m.UserName)}
				for _, r := range m.Roles {
					mem.Roles = append(mem.Roles, scrub.text(firstNonEmpty(r.RoleName, r.RoleArn)))
				}
				out = append(out, mem)
			}
			nextToken = body.NextToken
			return nil
		})
		if err != nil {
			return nil, err
		}
		if nextToken == "" || nextToken == next {
			return out, nil
		}
		next = nextToken
	}
	return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": more than " + strconv.Itoa(maxMemberPages) + " pages: the listing does not end"}
}
