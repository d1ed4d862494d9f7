package tfa

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const (
	testRPID   = "hearth.example"
	testOrigin = "https://hearth.example:8006"
)

var b64 = base64.RawURLEncoding

// softKey is a software authenticator: it answers registration and login
// the way a security key does, with attestation "none".
type softKey struct {
	t       *testing.T
	priv    *ecdsa.PrivateKey
	credID  []byte
	counter uint32
	origin  string
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &softKey{t: t, priv: priv, credID: id, origin: testOrigin}
}

// challengeOf reads publicKey.challenge from creation or request options.
func (k *softKey) challengeOf(options []byte) string {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		k.t.Fatalf("options without a challenge (%v): %s", err, options)
	}
	return o.PublicKey.Challenge
}

func (k *softKey) clientData(typ, challenge string) []byte {
	cdj, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	if err != nil {
		k.t.Fatal(err)
	}
	return cdj
}

// authData builds rpIdHash | flags | signCount, plus the attested
// credential data (zero AAGUID, id, COSE key) when attested is set.
func (k *softKey) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(testRPID))
	flags := byte(0x01 | 0x04) // user present, user verified
	if attested {
		flags |= 0x40
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.counter)
	if !attested {
		return out
	}
	out = append(out, make([]byte, 16)...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(k.credID)))
	out = append(out, k.credID...)
	pub, err := k.priv.PublicKey.ECDH()
	if err != nil {
		k.t.Fatal(err)
	}
	point := pub.Bytes() // 0x04 | X | Y
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		k.t.Fatal(err)
	}
	// COSE_Key: kty EC2, alg ES256, crv P-256, x, y.
	cose, err := em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		k.t.Fatal(err)
	}
	return append(out, cose...)
}

// register answers navigator.credentials.create() options.
func (k *softKey) register(options []byte) string {
	cdj := k.clientData("webauthn.create", k.challengeOf(options))
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	if err != nil {
		k.t.Fatal(err)
	}
	return k.response(map[string]string{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"attestationObject": b64.EncodeToString(att),
	})
}

// login answers navigator.credentials.get() options, counting up first as
// a real key does.
func (k *softKey) login(options []byte) string {
	k.counter++
	cdj := k.clientData("webauthn.get", k.challengeOf(options))
	ad := k.authData(false)
	cdh := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return k.response(map[string]string{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	})
}

func (k *softKey) response(resp map[string]string) string {
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID),
		"type": "public-key", "response": resp,
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return string(out)
}

func newWebAuthn(t *testing.T) *WebAuthn {
	t.Helper()
	w, err := NewWebAuthn(WebAuthnConfig{RPID: testRPID, RPOrigins: []string{testOrigin}, RPDisplayName: "Hearth"},
		NewMemoryChallenges(2*time.Minute, 0))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// registerKey runs a whole registration for alice and returns the entry id.
func registerKey(t *testing.T, f *File, w *WebAuthn, k *softKey) string {
	t.Helper()
	opts, err := f.BeginWebAuthnRegistration(w, "alice@pve", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.FinishWebAuthnRegistration(w, "alice@pve", "desk key", k.register(opts), fixedNow.Add(5*time.Second))
	if err != nil {
		t.Fatalf("FinishWebAuthnRegistration: %v", err)
	}
	return id
}

// loginOptions returns the WebAuthn part of a fresh login challenge.
func loginOptions(t *testing.T, f *File, w *WebAuthn, now time.Time) []byte {
	t.Helper()
	c, err := f.Challenge("alice@pve", now, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebAuthn) == 0 {
		t.Fatalf("challenge without WebAuthn options: %+v", c)
	}
	return c.WebAuthn
}

func TestWebAuthnRegisterAndLogin(t *testing.T) {
	f, w, k := newFile(t), newWebAuthn(t), newSoftKey(t)
	id := registerKey(t, f, w, k)
	if e, err := f.Get("alice@pve", id); err != nil || e.Type != TypeWebAuthn || e.Description != "desk key" {
		t.Fatalf("Get = %+v, %v", e, err)
	}
	// The credential must survive the trip through tfa.cfg.
	f = reparse(t, f)
	now := fixedNow.Add(time.Minute)
	answer := k.login(loginOptions(t, f, w, now))
	if err := f.Verify("alice@pve", "webauthn:"+answer, now, w); err != nil {
		t.Fatalf("login: %v", err)
	}
	out, _ := f.Bytes()
	if !strings.Contains(string(out), `"signCount":1`) {
		t.Errorf("new signature counter not stored: %s", out)
	}
	// The same signed answer again: its challenge is spent.
	if err := f.Verify("alice@pve", "webauthn:"+answer, now, w); !errors.Is(err, ErrInvalid) {
		t.Errorf("replayed assertion: %v, want ErrInvalid", err)
	}
}

func TestWebAuthnRegistrationIsSingleUseAndUnique(t *testing.T) {
	f, w, k := newFile(t), newWebAuthn(t), newSoftKey(t)
	opts, err := f.BeginWebAuthnRegistration(w, "alice@pve", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	answer := k.register(opts)
	if _, err := f.FinishWebAuthnRegistration(w, "alice@pve", "", answer, fixedNow); err != nil {
		t.Fatal(err)
	}
	if _, err := f.FinishWebAuthnRegistration(w, "alice@pve", "", answer, fixedNow); !errors.Is(err, ErrInvalid) {
		t.Errorf("finishing twice: %v, want ErrInvalid", err)
	}
	// A second ceremony with the same authenticator is refused even though
	// the browser ignored the exclusion list.
	opts, err = f.BeginWebAuthnRegistration(w, "alice@pve", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), b64.EncodeToString(k.credID)) {
		t.Errorf("registered key not in the exclusion list: %s", opts)
	}
	if _, err := f.FinishWebAuthnRegistration(w, "alice@pve", "", k.register(opts), fixedNow); err == nil {
		t.Error("the same authenticator was registered twice")
	}
	// Another user cannot finish alice's ceremony.
	opts, _ = f.BeginWebAuthnRegistration(w, "alice@pve", fixedNow)
	if _, err := f.FinishWebAuthnRegistration(w, "mallory@pve", "", newSoftKey(t).register(opts), fixedNow); !errors.Is(err, ErrInvalid) {
		t.Errorf("other user finishing: %v, want ErrInvalid", err)
	}
}

// TestWebAuthnLoginRefusals checks each refusal by the reason it gives, so
// a case cannot pass because of some other flaw in the answer.
func TestWebAuthnLoginRefusals(t *testing.T) {
	f, w, k := newFile(t), newWebAuthn(t), newSoftKey(t)
	registerKey(t, f, w, k)
	now := fixedNow.Add(time.Minute)
	good := func() string { return k.login(loginOptions(t, f, w, now)) }

	for _, tc := range []struct {
		name   string
		answer func() string
		at     time.Time
		reason string
	}{
		{"expired challenge", good, now.Add(3 * time.Minute), "challenge unknown or expired"},
		{"wrong origin", func() string {
			k.origin = "https://evil.example"
			defer func() { k.origin = testOrigin }()
			return good()
		}, now, "origin"},
		{"wrong private key", func() string {
			other := newSoftKey(t)
			other.credID, other.counter = k.credID, k.counter+5
			return other.login(loginOptions(t, f, w, now))
		}, now, "signature"},
		{"counter went backwards", func() string {
			if err := f.Verify("alice@pve", "webauthn:"+good(), now, w); err != nil {
				t.Fatalf("good login: %v", err)
			}
			k.counter -= 2
			return good()
		}, now, "counter went backwards"},
		{"not json", func() string { return "{not json" }, now, "Parse error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Verify("alice@pve", "webauthn:"+tc.answer(), tc.at, w)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %v, want ErrInvalid about %q", err, tc.reason)
			}
		})
	}
	// Three failures came before the good login, which reset the count.
	if n := f.user("alice@pve").tfaFailures; n != 2 {
		t.Errorf("tfa failures = %d, want 2", n)
	}
}

func TestWebAuthnDisabledEntryIsNotOffered(t *testing.T) {
	f, w, k := newFile(t), newWebAuthn(t), newSoftKey(t)
	id := registerKey(t, f, w, k)
	if _, err := f.AddRecovery("alice@pve", "", fixedNow); err != nil {
		t.Fatal(err)
	}
	if err := f.Update("alice@pve", id, nil, ptr(false)); err != nil {
		t.Fatal(err)
	}
	c, err := f.Challenge("alice@pve", fixedNow, w)
	if err != nil || c.WebAuthn != nil {
		t.Fatalf("Challenge = %+v, %v; want no WebAuthn", c, err)
	}
	if err := f.Verify("alice@pve", "webauthn:{}", fixedNow, w); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("login with a disabled key: %v, want ErrNotConfigured", err)
	}
}

func TestWebAuthnNeedsSettings(t *testing.T) {
	f := newFile(t)
	if _, err := f.BeginWebAuthnRegistration(nil, "alice@pve", fixedNow); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("Begin without settings: %v", err)
	}
	if _, err := NewWebAuthn(WebAuthnConfig{RPID: testRPID}, NewMemoryChallenges(time.Minute, 0)); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("NewWebAuthn without origin: %v", err)
	}
}
