// Package openid implements the "openid" realm: users log in at an OpenID
// Connect identity provider instead of giving Hearth a password. The
// server hands the browser an authorization URL (authorization-code flow
// with PKCE), remembers the state, verifier and nonce in a pluggable
// StateStore so that any cluster node can finish the login, then exchanges
// the returned code, verifies the ID token and maps its claims to a user
// name in the realm. Reading domains.cfg, issuing tickets and persisting
// user.cfg stay with the caller; ApplyLogin and ApplyGroups only change a
// usercfg.Config in memory.
package openid
