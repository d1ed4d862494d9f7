package tfa

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.out from the current output")

// TestParseWriteGolden pins the written form of each testdata/golden/*.json
// and checks that writing is a fixed point: the output parses back to the
// same bytes.
func TestParseWriteGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := f.Bytes()
			if err != nil {
				t.Fatalf("Bytes: %v", err)
			}
			out := strings.TrimSuffix(in, ".json") + ".out"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\ngot  %s\nwant %s", out, got, want)
			}
			again, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(output): %v", err)
			}
			second, err := again.Bytes()
			if err != nil || !bytes.Equal(second, got) {
				t.Errorf("output is not a fixed point (err %v):\nfirst  %s\nsecond %s", err, got, second)
			}
		})
	}
}

// TestRoundTripKeepsUnknownMembers checks, member by member, that the
// written JSON means the same as the Proxmox-VE-shaped input.
func TestRoundTripKeepsUnknownMembers(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/pve-shaped.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var in, got any
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, got) {
		t.Errorf("round trip changed the content:\nin  %v\nout %v", in, got)
	}
}

func TestParseReadsEntries(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/pve-shaped.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Users(), []string{"alice@pve", "bob@ldap-corp", "carol@pve"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Users = %v, want %v", got, want)
	}
	wantAlice := []Entry{
		{ID: "totp-3f1c9a2e", Type: "totp", Description: "Phone app", Created: 1700000000, Enable: true},
		{ID: "totp-77aa0b1d", Type: "totp", Description: "Old tablet & spare", Created: 1690000000, Enable: false},
		{ID: "webauthn-0d5e", Type: "webauthn", Description: "Security key from the drawer", Created: 1700000500, Enable: true},
		{ID: "recovery", Type: "recovery", Created: 1700001000, Enable: true},
		{ID: "yubico-1", Type: "yubico", Created: 1690500000, Enable: true},
	}
	if got := f.List("alice@pve"); !reflect.DeepEqual(got, wantAlice) {
		t.Errorf("List(alice) =\n%+v\nwant\n%+v", got, wantAlice)
	}
	if got, want := f.Types("alice@pve"), []string{"totp", "webauthn", "recovery", "yubico"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Types(alice) = %v, want %v", got, want)
	}
	if got, want := f.Types("carol@pve"), []string{"u2f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Types(carol) = %v, want %v", got, want)
	}
	if f.HasAny("nobody@pve") {
		t.Error("a user without an object has second factors")
	}
	cfg, ok, err := f.WebAuthnSettings()
	if err != nil || !ok {
		t.Fatalf("WebAuthnSettings: %v %v", ok, err)
	}
	want := WebAuthnConfig{RPID: "hearth.example", RPOrigins: []string{"https://hearth.example:8006"}, RPDisplayName: "Hearth cluster"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("WebAuthnSettings = %+v, want %+v", cfg, want)
	}
}

func TestWebAuthnSettingsFallBackToRPForID(t *testing.T) {
	f, err := Parse([]byte(`{"webauthn":{"rp":"pve.example","origin":"https://pve.example:8006","allow-subdomains":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok, err := f.WebAuthnSettings()
	if err != nil || !ok || cfg.RPID != "pve.example" {
		t.Fatalf("WebAuthnSettings = %+v %v %v", cfg, ok, err)
	}
	if err := f.SetWebAuthnSettings(WebAuthnConfig{RPID: "new.example", RPOrigins: []string{"https://new.example"}, RPDisplayName: "New"}); err != nil {
		t.Fatal(err)
	}
	out, _ := f.Bytes()
	if want := `{"webauthn":{"allow-subdomains":true,"id":"new.example","origin":"https://new.example","rp":"New"}}`; string(out) != want {
		t.Errorf("after SetWebAuthnSettings: %s, want %s", out, want)
	}
}

// TestParseRejectsDamage pins the strict side of Parse: a file it cannot
// fully read is refused rather than read with a factor missing.
func TestParseRejectsDamage(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not json", `{"users":`},
		{"users not an object", `{"users":[]}`},
		{"user not an object", `{"users":{"a@pve":"x"}}`},
		{"totp not a list", `{"users":{"a@pve":{"totp":{}}}}`},
		{"entry without id", `{"users":{"a@pve":{"totp":[{"created":1,"entry":"otpauth://totp/a?secret=AAAA"}]}}}`},
		{"entry without value", `{"users":{"a@pve":{"webauthn":[{"id":"x","created":1}]}}}`},
		{"totp value not a string", `{"users":{"a@pve":{"totp":[{"id":"x","created":1,"entry":{}}]}}}`},
		{"totp value null", `{"users":{"a@pve":{"totp":[{"id":"x","created":1,"entry":null}]}}}`},
		{"created not a number", `{"users":{"a@pve":{"totp":[{"id":"x","created":"now","entry":"u"}]}}}`},
		{"recovery without secret", `{"users":{"a@pve":{"recovery":{"entries":[],"created":1}}}}`},
		{"lock not a bool", `{"users":{"a@pve":{"totp-locked":"yes"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.in)); err == nil {
				t.Errorf("Parse(%s) succeeded", tc.in)
			}
		})
	}
}

func TestParseEmptyGivesEmptyFile(t *testing.T) {
	for _, in := range []string{"", "  \n", "{}", `{"users":null}`} {
		f, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		out, err := f.Bytes()
		if err != nil || string(out) != "{}" {
			t.Errorf("Parse(%q).Bytes() = %s, %v; want {}", in, out, err)
		}
	}
}

func TestRemoveUser(t *testing.T) {
	f := mustParse(t, `{"users":{"a@pve":{"totp-locked":true},"b@pve":{}}}`)
	if !f.RemoveUser("a@pve") || f.RemoveUser("a@pve") {
		t.Error("RemoveUser should report true once, then false")
	}
	if out, _ := f.Bytes(); string(out) != `{"users":{"b@pve":{}}}` {
		t.Errorf("after RemoveUser: %s", out)
	}
	if !errors.Is(f.Verify("a@pve", "totp:123456", fixedNow, nil), ErrNotConfigured) {
		t.Error("a removed user should have nothing configured")
	}
}

func mustParse(t *testing.T, s string) *File {
	t.Helper()
	f, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
