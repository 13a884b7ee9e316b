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
}

type rawWebhook struct {
	rawRouting `yaml:",inline"`
	URLEnv     string `yaml:"urlEnv"`
	SecretEnv  string `yaml:"secretEnv"`
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
		c.Webhooks = append(c.Webhooks, wh)
	}
}
