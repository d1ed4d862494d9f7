package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

func TestRequiredSecretsComeFromStdinNotTheCommandLine(t *testing.T) {
	ep := &api.Endpoint{Path: "/join", Method: "POST", Params: schema.Props{
		"hostname": schema.Str("Where.").Ptr(),
		"password": schema.Schema{Type: schema.String, Sensitive: true, Description: "Password of the cluster's administrator."}.Ptr(),
		"otp":      schema.Schema{Type: schema.String, Sensitive: true, Optional: true}.Ptr(),
	}}
	r := newRun(Env{Stdin: strings.NewReader("s3cret\r\nignored\n"), IsTerminal: func(any) bool { return false }})
	raw := schema.Raw{"hostname": {"pve1"}}
	if err := r.askSecrets(ep, raw); err != nil {
		t.Fatal(err)
	}
	if got, _ := raw.Get("password"); got != "s3cret" {
		t.Fatalf("password %q", got)
	}
	if _, asked := raw["otp"]; asked {
		t.Fatal("an optional secret was asked for")
	}
	// Given on the command line, nothing is read.
	r = newRun(Env{Stdin: strings.NewReader("from-stdin\n"), IsTerminal: func(any) bool { return false }})
	raw = schema.Raw{"password": {"given"}}
	if err := r.askSecrets(ep, raw); err != nil || raw["password"][0] != "given" {
		t.Fatalf("given password replaced: %v %v", raw, err)
	}
	// On the local node, --password-file fills the call's password.
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	r = newRun(Env{Stdin: strings.NewReader("from-stdin\n"), IsTerminal: func(any) bool { return false }})
	r.opts.passwordFile = pwFile
	raw = schema.Raw{}
	if err := r.askSecrets(ep, raw); err != nil || raw["password"][0] != "from-file" || r.opts.passwordFile != "" {
		t.Fatalf("password file: %v %v", raw, err)
	}
	// Nothing on stdin: a clear error.
	r = newRun(Env{Stdin: strings.NewReader(""), IsTerminal: func(any) bool { return false }})
	if err := r.askSecrets(ep, schema.Raw{}); err == nil || !strings.Contains(err.Error(), "password is required") {
		t.Fatalf("empty stdin: %v", err)
	}
}
