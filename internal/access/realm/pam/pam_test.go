//go:build pam && cgo

package pam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

// These tests create real system accounts, so they run only as root on a
// machine with the shadow tools; a failed attempt costs pam_unix's delay,
// hence t.Parallel everywhere.

// needAccounts skips the test unless accounts can be made here.
func needAccounts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating test accounts needs root")
	}
	for _, tool := range []string{"useradd", "userdel", "usermod", "chpasswd", "chage", "passwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found: %v", tool, err)
		}
	}
	if _, err := os.Stat("/etc/pam.d/" + DefaultService); err == nil {
		t.Skipf("skipping: /etc/pam.d/%s exists and may change the rules these tests expect", DefaultService)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func run(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newUser creates an account with a random name and password and removes
// it when the test ends.
func newUser(t *testing.T) (name, password string) {
	t.Helper()
	needAccounts(t)
	name = "hearth-pamtest-" + randomHex(t, 4)
	password = "pw-" + randomHex(t, 12)
	run(t, "", "useradd", "--create-home", "--shell", "/usr/sbin/nologin", name)
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v\n%s", name, err, out)
		}
	})
	run(t, name+":"+password+"\n", "chpasswd")
	return name, password
}

func TestRightPasswordIsAccepted(t *testing.T) {
	t.Parallel()
	name, password := newUser(t)
	if err := New().Authenticate(context.Background(), name, password); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
}

// refusedCases are accounts or inputs that must fail with realm.ErrAuth;
// step, when set, is the PAM call expected to refuse, which shows that
// pam_acct_mgmt runs after a successful pam_authenticate.
func TestRefusalsAreErrAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) (user, password string)
		step  string
	}{
		{"wrong password", func(t *testing.T) (string, string) {
			user, _ := newUser(t)
			return user, "not-the-password"
		}, "pam_authenticate"},
		{"unknown user", func(t *testing.T) (string, string) {
			needAccounts(t)
			return "hearth-pamtest-" + randomHex(t, 4), "whatever"
		}, "pam_authenticate"},
		{"locked account with right password", func(t *testing.T) (string, string) {
			user, password := newUser(t)
			run(t, "", "usermod", "-L", user)
			return user, password
		}, "pam_authenticate"},
		{"expired account with right password", func(t *testing.T) (string, string) {
			user, password := newUser(t)
			run(t, "", "chage", "-E", "0", user)
			return user, password
		}, "pam_acct_mgmt"},
		{"password that must be changed", func(t *testing.T) (string, string) {
			user, password := newUser(t)
			run(t, "", "chage", "-d", "0", user)
			return user, password
		}, "pam_acct_mgmt"},
		{"empty password of account without one", func(t *testing.T) (string, string) {
			// pam_unix would take this (common-auth says nullok);
			// the realm must not.
			user, _ := newUser(t)
			run(t, "", "passwd", "-d", user)
			return user, ""
		}, ""},
		{"password with NUL after the right one", func(t *testing.T) (string, string) {
			user, password := newUser(t)
			return user, password + "\x00junk"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user, password := tt.setup(t)
			err := New().Authenticate(context.Background(), user, password)
			if !errors.Is(err, realm.ErrAuth) {
				t.Fatalf("Authenticate = %v, want realm.ErrAuth", err)
			}
			if tt.step != "" && !strings.Contains(err.Error(), tt.step) {
				t.Errorf("error %q does not name %s", err, tt.step)
			}
			if password != "" && strings.Contains(err.Error(), password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestBadNamesAreRefusedWithoutAskingPAM(t *testing.T) {
	t.Parallel()
	// A PAM failure takes seconds; a refusal before PAM does not.
	start := time.Now()
	for _, name := range []string{"", "-root", "ro ot", "root\x00x", "a:b", "../root"} {
		err := New().Authenticate(context.Background(), name, "secret")
		if !errors.Is(err, realm.ErrAuth) {
			t.Errorf("Authenticate(%q) = %v, want realm.ErrAuth", name, err)
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusals took %v; PAM was asked", d)
	}
}

func TestCancelledContextReturnsBeforeSlowPAMCall(t *testing.T) {
	t.Parallel()
	name, _ := newUser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := New().Authenticate(ctx, name, "wrong, and slow to say so")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Authenticate = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, want soon after the deadline", d)
	}
}

func TestCallersWaitForAFreeSlot(t *testing.T) {
	t.Parallel()
	name, password := newUser(t)
	r := New()
	r.once.Do(func() { r.sem = make(chan struct{}, maxConcurrent) })
	for range maxConcurrent {
		r.sem <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.Authenticate(ctx, name, password)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("Authenticate with all slots taken = %v, want a deadline while waiting", err)
	}
	<-r.sem
	if err := r.Authenticate(context.Background(), name, password); err != nil {
		t.Fatalf("Authenticate with a slot free: %v", err)
	}
}

func TestConcurrentLoginsAllSucceed(t *testing.T) {
	t.Parallel()
	name, password := newUser(t)
	r := New()
	errs := make(chan error, 3*maxConcurrent)
	for range cap(errs) {
		go func() { errs <- r.Authenticate(context.Background(), name, password) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestUnknownServiceFallsBackToOther(t *testing.T) {
	t.Parallel()
	name, password := newUser(t)
	r := &Realm{Service: "hearth-pamtest-" + randomHex(t, 4)}
	if err := r.Authenticate(context.Background(), name, password); err != nil {
		t.Fatalf("Authenticate via /etc/pam.d/other: %v", err)
	}
}

func TestAvailableInPAMBuild(t *testing.T) {
	if !New().Available() {
		t.Error("Available() = false in the cgo build")
	}
}
