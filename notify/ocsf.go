package notify

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"

	"livy-token-audit/audit"
)

// OCSF is the Open Cybersecurity Schema Framework: WriteOCSF writes each
// active finding as a Detection Finding (class 2004, category Findings),
// the event SIEMs and Security Hub take from scanners such as Prowler.

// OCSFVersion is the OCSF schema version the events declare.
const OCSFVersion = "1.2.0"

// The Detection Finding's fixed identifiers: class 2004 in category 2
// (Findings), activity 1 (Create), so type_uid 2004·100+1.
const (
	ocsfClass    = 2004
	ocsfCategory = 2
	ocsfActivity = 1
	ocsfType     = ocsfClass*100 + ocsfActivity
)

// ocsfSeverity maps a severity to OCSF's severity_id (2 low … 5 critical).
var ocsfSeverity = map[audit.Severity]int{audit.SeverityLow: 2, audit.SeverityMedium: 3, audit.SeverityHigh: 4, audit.SeverityCritical: 5}

type ocsfFinding struct {
	ActivityID   int          `json:"activity_id"`
	ActivityName string       `json:"activity_name"`
	CategoryUID  int          `json:"category_uid"`
	CategoryName string       `json:"category_name"`
	ClassUID     int          `json:"class_uid"`
	ClassName    string       `json:"class_name"`
	TypeUID      int          `json:"type_uid"`
	TypeName     string       `json:"type_name"`
	SeverityID   int          `json:"severity_id"`
	Severity     string       `json:"severity"`
	StatusID     int          `json:"status_id"`
	Status       string       `json:"status"`
	Time         int64        `json:"time"`
	Message      string       `json:"message"`
	Metadata     ocsfMetadata `json:"metadata"`
	FindingInfo  ocsfInfo     `json:"finding_info"`
	Resources    []ocsfRes    `json:"resources"`
	Cloud        ocsfCloud    `json:"cloud"`
}

type ocsfMetadata struct {
	Version  string      `json:"version"`
	Product  ocsfProduct `json:"product"`
	Profiles []string    `json:"profiles"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfInfo struct {
	UID   string   `json:"uid"`
	Title string   `json:"title"`
	Desc  string   `json:"desc"`
	Types []string `json:"types"`
}

type ocsfRes struct {
	UID    string            `json:"uid"`
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Region string            `json:"region"`
	Owner  *ocsfUser         `json:"owner,omitempty"`
	Labels []string          `json:"labels,omitempty"`
	Data   map[string]string `json:"data"`
}

type ocsfUser struct {
	Name string `json:"name"`
}

type ocsfCloud struct {
	Provider string       `json:"provider"`
	Region   string       `json:"region"`
	Account  *ocsfAccount `json:"account,omitempty"`
}

type ocsfAccount struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
}

// WriteOCSF writes each active finding of a digest as one OCSF Detection
// Finding, a JSON object per line, in the digest's section order: its uid
// is the finding's fingerprint (stable from run to run), its resource the
// token (its key and name, never its value) with its gateway and
// workspace.
func WriteOCSF(w io.Writer, d *Digest) error {
	s := d.Snapshot
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, sec := range d.Sections {
		for _, it := range sec.Items {
			if err := enc.Encode(ocsfOf(s, it)); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

func ocsfOf(s *audit.Snapshot, it Item) ocsfFinding {
	g, t, f := it.Gateway, it.Token, it.Finding
	ref := g.Ref()
	info := audit.Info(f.Rule)
	name := cmp.Or(t.Name, t.TokenID)
	res := ocsfRes{UID: audit.TokenKey(ref, t.TokenID), Name: name, Type: "EMR Serverless Spark Livy Gateway token", Region: g.Region,
		Data: map[string]string{"tokenId": t.TokenID, "gatewayId": g.GatewayID, "gateway": GatewayLabel(*g), "workspaceId": g.WorkspaceID, "workspace": WorkspaceLabel(*g)}}
	if t.CreatedBy != "" {
		res.Owner = &ocsfUser{Name: t.CreatedBy}
	}
	if f.Stage != "" {
		res.Labels = []string{"stage:" + f.Stage}
	}
	cloud := ocsfCloud{Provider: "Alibaba Cloud", Region: g.Region}
	if g.AccountID != "" {
		cloud.Account = &ocsfAccount{UID: g.AccountID, Name: g.AccountName}
	}
	return ocsfFinding{
		ActivityID: ocsfActivity, ActivityName: "Create", CategoryUID: ocsfCategory, CategoryName: "Findings",
		ClassUID: ocsfClass, ClassName: "Detection Finding", TypeUID: ocsfType, TypeName: "Detection Finding: Create",
		SeverityID: ocsfSeverity[f.Severity], Severity: cmp.Or(map[int]string{2: "Low", 3: "Medium", 4: "High", 5: "Critical"}[ocsfSeverity[f.Severity]], "Unknown"),
		StatusID: 1, Status: "New", Time: s.AuditedAt.UnixMilli(), Message: info.Title + ": " + name + " · " + f.Message,
		Metadata:    ocsfMetadata{Version: OCSFVersion, Product: ocsfProduct{Name: cmp.Or(s.Tool.Name, "livy-token-audit"), VendorName: "livy-token-audit", Version: s.Tool.Version}, Profiles: []string{"cloud"}},
		FindingInfo: ocsfInfo{UID: audit.Fingerprint(ref, t.TokenID, f.Rule), Title: info.Title + " token: " + name, Desc: f.Message, Types: []string{string(f.Rule)}},
		Resources:   []ocsfRes{res}, Cloud: cloud,
	}
}
