package tfa

import (
	"fmt"
	"strconv"
	"strings"
)

// RealmTFA is a realm's "tfa" property: the factor every user of the realm
// must have, with its parameters.
type RealmTFA struct {
	// Type is "oath" (TOTP) or "yubico".
	Type string
	// Digits and Step are the TOTP code length and period (default 6 and
	// 30 seconds).
	Digits int
	Step   int
	// ID, Key and URL are the Yubico API client id, key and validation URL.
	ID, Key, URL string
}

// ParseRealmTFA reads a property string such as "type=oath,step=30,digits=6"
// or "type=yubico,id=1,key=...". A leading value without "=" is the type.
func ParseRealmTFA(s string) (RealmTFA, error) {
	r := RealmTFA{Digits: 6, Step: 30}
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok && i == 0 {
			k, v = "type", part
		} else if !ok {
			return RealmTFA{}, fmt.Errorf("realm tfa %q: %q is not key=value", s, part)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if seen[k] {
			return RealmTFA{}, fmt.Errorf("realm tfa %q: %q given twice", s, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "type":
			r.Type = v
		case "digits":
			r.Digits, err = boundedInt(v, 6, 8)
		case "step":
			r.Step, err = boundedInt(v, 10, 3600)
		case "id":
			r.ID = v
		case "key":
			r.Key = v
		case "url":
			r.URL = v
		default:
			return RealmTFA{}, fmt.Errorf("realm tfa %q: unknown property %q", s, k)
		}
		if err != nil {
			return RealmTFA{}, fmt.Errorf("realm tfa %q: %s: %w", s, k, err)
		}
	}
	switch r.Type {
	case "oath", "yubico":
	case "":
		return RealmTFA{}, fmt.Errorf("realm tfa %q: no type", s)
	default:
		return RealmTFA{}, fmt.Errorf("realm tfa %q: type %q is not oath or yubico", s, r.Type)
	}
	return r, nil
}

func boundedInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", v, lo, hi)
	}
	return n, nil
}

// RequiredType says which entry type a realm's "tfa" property makes
// mandatory, spelled as Types returns it: "totp" for oath, "yubico" for
// yubico, and "" when the property is empty and nothing is required.
func RequiredType(realmTFA string) (string, error) {
	if strings.TrimSpace(realmTFA) == "" {
		return "", nil
	}
	r, err := ParseRealmTFA(realmTFA)
	if err != nil {
		return "", err
	}
	if r.Type == "oath" {
		return TypeTOTP, nil
	}
	return r.Type, nil
}
