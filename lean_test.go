package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// leanClient is the yardstick of BenchmarkRunVsLean: the least a client can
// do to list a fleet's tokens — sign each request with ACS3-HMAC-SHA256
// (by hand, no SDK), send it over a pooled connection, decode the answer
// into the few fields an audit needs — with the same bound on requests in
// flight and discovery pipelined. It classifies, writes and posts nothing.
type leanClient struct {
	base, ak, sk string
	hc           *http.Client
	sem          chan struct{}
}

func newLeanClient(base, ak, sk string, concurrency int) *leanClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	return &leanClient{base: base, ak: ak, sk: sk, hc: &http.Client{Transport: tr, Timeout: time.Minute}, sem: make(chan struct{}, concurrency)}
}

// get signs and sends one GET, and decodes its JSON answer into v.
func (c *leanClient) get(ctx context.Context, action, path string, query url.Values, v any) error {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	u, _ := url.Parse(c.base + path)
	u.RawQuery = strings.ReplaceAll(query.Encode(), "+", "%20")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	empty := sha256.Sum256(nil)
	h := map[string]string{"host": u.Host, "x-acs-action": action, "x-acs-version": "2023-08-08",
		"x-acs-date": time.Now().UTC().Format("2006-01-02T15:04:05Z"), "x-acs-signature-nonce": hex.EncodeToString(nonce),
		"x-acs-content-sha256": hex.EncodeToString(empty[:])}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var canon strings.Builder
	fmt.Fprintf(&canon, "GET\n%s\n%s\n", u.EscapedPath(), u.RawQuery)
	for _, k := range names {
		canon.WriteString(k + ":" + h[k] + "\n")
		if k != "host" {
			req.Header.Set(k, h[k])
		}
	}
	fmt.Fprintf(&canon, "\n%s\n%s", strings.Join(names, ";"), h["x-acs-content-sha256"])
	sum := sha256.Sum256([]byte(canon.String()))
	mac := hmac.New(sha256.New, []byte(c.sk))
	mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(sum[:])))
	req.Header.Set("Authorization", fmt.Sprintf("ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s", c.ak, strings.Join(names, ";"), hex.EncodeToString(mac.Sum(nil))))
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", action, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// audit lists every workspace of region, every gateway and every token,
// and returns how many tokens it decoded.
func (c *leanClient) audit(ctx context.Context, region string) (int, error) {
	var tokens atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		firstErr = cmpOrErr(firstErr, err)
		mu.Unlock()
	}
	next := ""
	for {
		var ws struct {
			Workspaces []struct {
				WorkspaceID string `json:"workspaceId"`
			} `json:"workspaces"`
			NextToken string `json:"nextToken"`
		}
		q := url.Values{"regionId": {region}, "maxResults": {"50"}}
		if next != "" {
			q.Set("nextToken", next)
		}
		if err := c.get(ctx, "ListWorkspaces", "/api/v1/workspaces", q, &ws); err != nil {
			return 0, err
		}
		for _, w := range ws.Workspaces {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var gws struct {
					Data struct {
						LivyComputes []struct {
							ComputeID string `json:"computeId"`
						} `json:"livyComputes"`
					} `json:"data"`
				}
				p := "/api/interactive/v1/workspace/" + w.WorkspaceID + "/livycompute"
				if err := c.get(ctx, "ListLivyCompute", p, url.Values{"regionId": {region}}, &gws); err != nil {
					fail(err)
					return
				}
				for _, g := range gws.Data.LivyComputes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var toks struct {
							Data struct {
								Tokens []struct {
									TokenID      string `json:"tokenId"`
									Name         string `json:"name"`
									CreatedBy    string `json:"createdby"`
									CreateTime   int64  `json:"createTime"`
									ExpireTime   int64  `json:"expireTime"`
									LastUsedTime int64  `json:"lastUsedTime"`
								} `json:"tokens"`
							} `json:"data"`
						}
						if err := c.get(ctx, "ListLivyComputeToken", p+"/"+g.ComputeID+"/token", url.Values{"regionId": {region}}, &toks); err != nil {
							fail(err)
							return
						}
						tokens.Add(int64(len(toks.Data.Tokens)))
					}()
				}
			}()
		}
		if ws.NextToken == "" || ws.NextToken == next {
			break
		}
		next = ws.NextToken
	}
	wg.Wait()
	return int(tokens.Load()), firstErr
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
