package audit

// Collection is what an audit gathered: one result per gateway, and the
// failures above the gateway level.
type Collection struct {
	Gateways []GatewayResult
	Errors   []ScopeError
}

// GatewayResult is the outcome of listing one gateway's tokens: Tokens when
// Err is nil.
type GatewayResult struct {
	Ref    GatewayRef
	Tokens []Token
	Err    *APIError
}
