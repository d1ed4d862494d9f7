package openid

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// Config is an openid realm as domains.cfg describes it, plus the client
// key, which lives in a separate private file.
type Config struct {
	Realm     string
	IssuerURL string
	ClientID  string
	ClientKey string // empty for a public client
	// UsernameClaim picks the claim that names the user: "subject" (the
	// default, claim "sub"), "username" (claim "preferred_username"),
	// "email", or the name of any other claim.
	UsernameClaim string
	Autocreate    bool
	// Scopes always holds "openid"; the default adds "email" and "profile".
	Scopes    []string
	Prompt    string
	ACRValues []string
	// GroupsClaim names a claim listing the user's groups; empty turns
	// group mapping off.
	GroupsClaim      string
	GroupsAutocreate bool
	GroupsOverwrite  bool
	QueryUserinfo    bool
}

// Defaults for keys that domains.cfg leaves out.
var defaultScopes = []string{"openid", "email", "profile"}

const defaultUsernameClaim = "subject"

var (
	groupsClaimRE = regexp.MustCompile(`^[A-Za-z0-9.\-_]+$`)
	// acrValueRE is the character set Proxmox VE admits for acr-values,
	// applied to each space-separated value.
	acrValueRE = regexp.MustCompile(`^[^\x00-\x1F\x7F <>#"]+$`)
	// scopeRE is the scope-token grammar of RFC 6749, section 3.3.
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	// tokenRE admits one word without white space or control characters,
	// which is all a claim name or a prompt value needs.
	tokenRE = regexp.MustCompile(`^[^\x00-\x20\x7F]+$`)
)

// ParseConfig reads an openid section of domains.cfg. clientKey is the
// secret kept outside domains.cfg; when it is empty a client-key in the
// section itself is used. Keys the section carries for other purposes
// (comment, default, tfa) are ignored; the caller validates key names.
func ParseConfig(sec sectioncfg.Section, clientKey string) (*Config, error) {
	if sec.Type != "openid" {
		return nil, fmt.Errorf("realm %s: type %q is not openid", sec.ID, sec.Type)
	}
	if err := usercfg.ValidRealm(sec.ID); err != nil {
		return nil, fmt.Errorf("realm %q: %w", sec.ID, err)
	}
	c := &Config{
		Realm:         sec.ID,
		ClientKey:     clientKey,
		UsernameClaim: defaultUsernameClaim,
		Scopes:        slices.Clone(defaultScopes),
		QueryUserinfo: true,
	}
	bad := func(key, value, why string) error {
		return fmt.Errorf("realm %s: %s %q: %s", sec.ID, key, value, why)
	}

	issuer, ok := sec.Get("issuer-url")
	if !ok || issuer == "" {
		return nil, fmt.Errorf("realm %s: issuer-url is required", sec.ID)
	}
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return nil, bad("issuer-url", issuer, "not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, bad("issuer-url", issuer, "must be an https:// (or http://) URL")
	case u.Host == "":
		return nil, bad("issuer-url", issuer, "has no host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		// OpenID Connect Discovery forbids these in an issuer identifier.
		return nil, bad("issuer-url", issuer, "may not carry a query, fragment or user info")
	}
	c.IssuerURL = issuer

	if c.ClientID, ok = sec.Get("client-id"); !ok || c.ClientID == "" {
		return nil, fmt.Errorf("realm %s: client-id is required", sec.ID)
	}
	if c.ClientKey == "" {
		c.ClientKey, _ = sec.Get("client-key")
	}

	if v, ok := sec.Get("username-claim"); ok {
		if !tokenRE.MatchString(v) {
			return nil, bad("username-claim", v, "must be one claim name without spaces")
		}
		c.UsernameClaim = v
	}
	if v, ok := sec.Get("scopes"); ok {
		scopes := strings.Fields(v)
		for _, s := range scopes {
			if !scopeRE.MatchString(s) {
				return nil, bad("scopes", v, fmt.Sprintf("invalid scope %q", s))
			}
		}
		// The flow is OpenID Connect only if "openid" is asked for, so it
		// is implied, as in Proxmox VE.
		if !slices.Contains(scopes, "openid") {
			scopes = append([]string{"openid"}, scopes...)
		}
		c.Scopes = scopes
	}
	if v, ok := sec.Get("prompt"); ok {
		if !tokenRE.MatchString(v) {
			return nil, bad("prompt", v, "must be one word such as none, login, consent or select_account")
		}
		c.Prompt = v
	}
	if v, ok := sec.Get("acr-values"); ok {
		for _, a := range strings.Fields(v) {
			if !acrValueRE.MatchString(a) {
				return nil, bad("acr-values", v, fmt.Sprintf("invalid value %q", a))
			}
			c.ACRValues = append(c.ACRValues, a)
		}
	}
	if v, ok := sec.Get("groups-claim"); ok {
		if !groupsClaimRE.MatchString(v) {
			return nil, bad("groups-claim", v, "may hold only letters, digits, '.', '-' and '_'")
		}
		c.GroupsClaim = v
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{
		{"autocreate", &c.Autocreate},
		{"groups-autocreate", &c.GroupsAutocreate},
		{"groups-overwrite", &c.GroupsOverwrite},
		{"query-userinfo", &c.QueryUserinfo},
	} {
		v, ok := sec.Get(b.key)
		if !ok {
			continue
		}
		val, ok := parseBool(v)
		if !ok {
			return nil, bad(b.key, v, "not a boolean (use 0 or 1)")
		}
		*b.dst = val
	}
	return c, nil
}

// parseBool accepts the spellings of the Proxmox VE boolean format.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "on", "true":
		return true, true
	case "0", "no", "off", "false":
		return false, true
	}
	return false, false
}

// claimName maps username-claim to the claim it reads: "subject" and
// "username" are aliases Proxmox VE defines for the standard claim names.
func claimName(usernameClaim string) string {
	switch usernameClaim {
	case "", "subject":
		return "sub"
	case "username":
		return "preferred_username"
	}
	return usernameClaim
}
