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
	// Owners are the gateway's people as resolved (nil: not resolved).
	Owners *Owners
}

// GatewayDetails is a gateway's exposure, as GetLivyCompute returns it.
type GatewayDetails struct {
	// Public is the gateway's enablePublic: it has a public endpoint.
	Public   bool
	AuthType string
	// CreatedBy and RAMUserID are who created the gateway (its jobs run as
	// them), when the details say.
	CreatedBy, RAMUserID string
}
