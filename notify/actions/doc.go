// Package actions lets people act on a finding where they read it: the
// buttons of the Slack report (their contract is notify/actionref) snooze
// it, acknowledge the token, or delete an expired token, through an
// endpoint that only Slack can use. It owns the endpoint's handler
// (verification, claims, the careful delete, the answer through
// response_url), the record of every action (create-only, in the run's
// store) and what the next audit reads of it.
//
// Every request is verified with the Slack app's signing secret; the rules
// of who may do what (actionref.Policy) are checked on the server for each
// one, and again on everything the record says when it is read.
package actions
