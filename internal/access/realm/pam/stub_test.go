//go:build !pam || !cgo

package pam

import (
	"context"
	"errors"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

func TestStubRefusesWithBuildHintNotErrAuth(t *testing.T) {
	r := New()
	if r.Available() {
		t.Error("Available() = true in the stub build")
	}
	err := r.Authenticate(context.Background(), "root", "secret")
	if err == nil || errors.Is(err, realm.ErrAuth) {
		t.Fatalf("Authenticate = %v, want a non-ErrAuth configuration error", err)
	}
	const want = "PAM support not built in: rebuild with CGO_ENABLED=1 -tags pam"
	if err.Error() != want {
		t.Errorf("Authenticate = %q, want %q", err, want)
	}
}
