package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"livy-token-audit/notify/actions"
)

// httpEvent tells an HTTP trigger's event by its shape: rawPath and
// requestContext.http, which neither a timer event (triggerTime) nor a
// manual event (whose fields are strict) has.
func httpEvent(payload []byte) bool {
	var probe struct {
		RawPath        *string `json:"rawPath"`
		RequestContext *struct {
			HTTP *json.RawMessage `json:"http"`
		} `json:"requestContext"`
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' || json.Unmarshal(payload, &probe) != nil {
		return false
	}
	return probe.RawPath != nil && probe.RequestContext != nil && probe.RequestContext.HTTP != nil
}

// serveHTTP serves an HTTP trigger's event: Slack's actions at
// actions.Path, and nothing else. It never starts an audit, and it always
// answers (an error would be a 502 to Slack). The body is never logged.
func (h *fcHandler) serveHTTP(ctx context.Context, fctx *fccontext.FcContext, payload []byte, log *slog.Logger) *events.HTTPTriggerResponse {
	answer := func(status int, body string) *events.HTTPTriggerResponse {
		return &events.HTTPTriggerResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Body: body}
	}
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		log.Warn("HTTP event refused: not an HTTP trigger's event")
		return answer(http.StatusBadRequest, "")
	}
	req, status := httpRequest(&ev)
	if status != 0 {
		log.Warn("HTTP request refused", "status", status, "path", req.Path, "method", req.Method)
		return answer(status, "")
	}
	if h.cfgErr != nil {
		log.Error("HTTP request refused: bad config", "error", h.cfgErr)
		return answer(http.StatusServiceUnavailable, "")
	}
	cred, err := invocationCredential(fctx.Credentials)
	if err != nil {
		log.Error("no credentials", "error", err)
		return answer(http.StatusServiceUnavailable, "")
	}
	ah, err := newActionsHandler(h.cfg, cred, h.getenv, log, h.now)
	if err != nil {
		log.Error("cannot set up the actions", "error", err)
		return answer(http.StatusServiceUnavailable, "")
	}
	if ah == nil {
		log.Warn("HTTP request refused: the actions are off (actions.enabled, SLACK_SIGNING_SECRET)")
		return answer(http.StatusNotFound, "")
	}
	resp := ah.Serve(ctx, req)
	return answer(resp.Status, "")
}

// httpRequest is the request an HTTP event carries, or the status that
// refuses it before its body is read: 404 for another path, 405 for
// another method, 413 for a body over actions.MaxBody.
func httpRequest(ev *events.HTTPTriggerEvent) (actions.Request, int) {
	req := actions.Request{Header: http.Header{}, Method: deref(ev.TriggerContext.Http.Method), Path: deref(ev.RawPath)}
	if req.Path == "" {
		req.Path = deref(ev.TriggerContext.Http.Path)
	}
	req.Path, _, _ = strings.Cut(req.Path, "?")
	switch {
	case req.Path != actions.Path:
		return req, http.StatusNotFound
	case req.Method != http.MethodPost:
		return req, http.StatusMethodNotAllowed
	}
	body := deref(ev.Body)
	if ev.IsBase64Encoded != nil && *ev.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(body)) > actions.MaxBody+3 {
			return req, http.StatusRequestEntityTooLarge
		}
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return req, http.StatusBadRequest
		}
		body = string(b)
	}
	if len(body) > actions.MaxBody {
		return req, http.StatusRequestEntityTooLarge
	}
	req.Body = []byte(body)
	if ev.Headers != nil {
		for k, v := range *ev.Headers {
			req.Header.Set(k, v)
		}
	}
	return req, 0
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
