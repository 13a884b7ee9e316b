package config

import "fmt"

// Webhook is one generic JSON webhook (a ticketing or alerting system): it
// gets one signed POST per run with the flagged tokens of its slice. The
// URL and the signing secret are in the environment variables URLEnv and
// SecretEnv, never in the file.
type Webhook struct {
	// Routing means what it means for slack.routes.
	Routing
	URLEnv    string
	SecretEnv string
	// Mode is WebhookReport (one post per run, when notify says so) or
	// WebhookEvents (one post per finding event: opened, escalated,
	// resolved, reopened).
	Mode string
}

// The modes of a JSON webhook.
const (
	WebhookReport = "report"
	WebhookEvents = "events"
)

type rawWebhook struct {
	rawRouting `yaml:",inline"`
	URLEnv     string `yaml:"urlEnv"`
	SecretEnv  string `yaml:"secretEnv"`
	Mode       string `yaml:"mode"`
}

// webhooks validates the webhooks section.
func (v *validator) webhooks(c *Config, r raw) {
	names := map[string]bool{}
	for i, w := range r.Webhooks {
		f := fmt.Sprintf("webhooks[%d]", i)
		wh := Webhook{Routing: v.routing(f, w.rawRouting, "webhook", names, c.Slack.Notify), URLEnv: w.URLEnv, SecretEnv: w.SecretEnv}
		if w.URLEnv == "" {
			v.fail(f+".urlEnv", "missing: the environment variable that holds the webhook's URL, like TICKETS_WEBHOOK_URL")
		} else {
			v.env(f+".urlEnv", w.URLEnv, "TICKETS_WEBHOOK_URL", "the URL")
		}
		if w.SecretEnv == "" {
			v.fail(f+".secretEnv", "missing: the environment variable that holds the secret the posts are signed with, like TICKETS_WEBHOOK_SECRET")
		} else {
			v.env(f+".secretEnv", w.SecretEnv, "TICKETS_WEBHOOK_SECRET", "the secret")
		}
		switch w.Mode {
		case "", WebhookReport:
			wh.Mode = WebhookReport
		case WebhookEvents:
			wh.Mode = WebhookEvents
			if w.Notify != "" {
				v.fail(f+".notify", "does not apply with mode: events (each finding event is posted once, when it happens); remove it")
			}
		default:
			v.fail(f+".mode", "%q is not a mode: report (one post per run) or events (one post per finding event)", w.Mode)
		}
		c.Webhooks = append(c.Webhooks, wh)
	}
}
