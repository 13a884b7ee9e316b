package emulator

import (
	"net/http"
	"strconv"
	"strings"
)

// Member is a workspace member as ListMembers answers it: a RAM principal
// name and role names.
type Member struct {
	UserName string   `json:"userName"`
	Roles    []string `json:"roles"`
}

// listMembers serves ListMembers (as the official SDK's model answers it:
// members, nextToken, requestId at the top level), paged by PageSize.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	const action = "ListMembers"
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return
	}
	ws := workspace(world, r)
	if ws == nil {
		s.record(r, action, 404)
		roaError(w, r, 404, "WorkspaceNotFound", "The workspace does not exist in this region.")
		return
	}
	if s.fail(w, r, action, ws.MembersFail) {
		return
	}
	size := s.PageSize
	if size <= 0 {
		size = 20
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("nextToken"), "page-"))
	start = min(max(start, 0), len(ws.Members))
	end := min(start+size, len(ws.Members))
	type role struct {
		RoleName string `json:"roleName"`
		RoleArn  string `json:"roleArn"`
	}
	type member struct {
		UserName  string `json:"userName"`
		MemberArn string `json:"memberArn"`
		Roles     []role `json:"roles"`
	}
	page := []member{}
	for i, m := range ws.Members[start:end] {
		mem := member{UserName: m.UserName, MemberArn: "acs:emr::" + ws.ID + ":member/" + strconv.Itoa(start+i+1), Roles: []role{}}
		for _, rn := range m.Roles {
			mem.Roles = append(mem.Roles, role{rn, "acs:emr::" + ws.ID + ":role/" + rn})
		}
		page = append(page, mem)
	}
	next := ""
	if end < len(ws.Members) {
		next = "page-" + strconv.Itoa(end)
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r), "members": page, "nextToken": next, "maxResults": size, "totalCount": len(ws.Members)})
}
