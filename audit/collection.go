package audit

// GatewayResult is the outcome of listing one gateway's tokens: Tokens when
// Err is nil.
type GatewayResult struct {
	Ref    GatewayRef
	Tokens []Token
	Err    *APIError
	// Details is what GetLivyCompute said of the gateway (nil when it was
	// not asked, or failed: DetailsErr).
	Details    *GatewayDetails
	DetailsErr *APIError
}

// GatewayDetails is a gateway's exposure, as GetLivyCompute returns it.
type GatewayDetails struct {
	// Public is the gateway's enablePublic: it has a public endpoint.
	Public   bool
	AuthType string
}
