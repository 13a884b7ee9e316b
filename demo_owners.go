package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"livy-token-audit/internal/standin/emulator"
)

// The demo's people: a RAM (IMS) stand-in that knows the demo's users —
// one deleted (bob: his tokens are orphaned), one who has not signed in
// for months (frank: ownerDormant) — and a Slack stand-in that finds some
// of them by email (erin, who has no slack.mentions entry, gets her
// tokens by direct message), both on loopback.

//go:embed testdata/demo/people.json
var demoPeople []byte

type people struct {
	Domain  string                      `json:"domain"`
	Users   map[string]emulator.IMSUser `json:"users"`
	Deleted map[string]emulator.IMSUser `json:"deleted"`
	Slack   map[string]string           `json:"slack"` // email -> Slack user ID
}

// serveLoopback serves h on a loopback port until the demo closes.
func (d *demo) serveLoopback(h http.Handler, what string, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo "+what+" stopped", "error", err)
		}
	}()
	d.closers = append(d.closers, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// startPeople starts the demo's RAM and Slack stand-ins and points the
// config's owner lookups at them.
func (d *demo) startPeople(log *slog.Logger) error {
	var p people
	if err := json.Unmarshal(demoPeople, &p); err != nil {
		return err
	}
	users, deleted := map[string]emulator.IMSUser{}, map[string]emulator.IMSUser{}
	for n, u := range p.Users {
		users[n+"@"+p.Domain] = u
	}
	for n, u := range p.Deleted {
		deleted[n+"@"+p.Domain] = u
	}
	imsURL, err := d.serveLoopback(&emulator.IMS{Keys: map[string]emulator.Key{demoAccessKeyID: {Secret: demoAccessKeySecret}}, Domain: p.Domain,
		Users: users, Deleted: deleted}, "RAM stand-in", log)
	if err != nil {
		return err
	}
	d.cfg.Owners.Resolve, d.cfg.Owners.Endpoint = true, imsURL
	d.slackURL, err = d.serveLoopback(demoSlack(p.Slack), "Slack stand-in", log)
	return err
}
