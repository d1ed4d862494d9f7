package access

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/realm/pve"
	"github.com/hearth-virt/hearth/internal/cfs"
)

func newService(t *testing.T) (*Service, *cfs.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := cfs.Open(ctx, cfs.Config{Dir: t.TempDir(), NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s := New(store, slog.New(slog.DiscardHandler))
	if err := s.EnsureKeys(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	return s, store
}

func write(t *testing.T, store *cfs.Store, path, data string) {
	t.Helper()
	if _, err := store.Apply(context.Background(), cfs.Write(path, []byte(data))); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapCreatesTheFirstAdministratorOnce(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	created, err := s.Bootstrap(ctx, "first-password")
	if err != nil || !created {
		t.Fatalf("first bootstrap: %v %v", created, err)
	}
	cfg, _ := store.Get(UserCfgPath)
	if !strings.Contains(string(cfg.Data), "user:admin@pve:1:0:") || !strings.Contains(string(cfg.Data), "acl:1:/:admin@pve:Administrator:") {
		t.Fatalf("user.cfg:\n%s", cfg.Data)
	}
	shadow, _ := store.Get(ShadowPath)
	if strings.Contains(string(shadow.Data), "first-password") || !strings.HasPrefix(string(shadow.Data), "admin@pve:$6$rounds=") {
		t.Fatalf("shadow.cfg holds %q", shadow.Data)
	}
	if created, err := s.Bootstrap(ctx, "second-password"); err != nil || created {
		t.Fatalf("second bootstrap: %v %v", created, err)
	}
	st, _ := s.current()
	if !st.shadow.Verify("admin@pve", "first-password") {
		t.Fatal("the second bootstrap replaced the password")
	}
}

func TestKeyRotationKeepsRecentTicketsValid(t *testing.T) {
	s, store := newService(t)
	now := time.Now()
	old, err := s.loadSigner()
	if err != nil {
		t.Fatal(err)
	}
	ticket, _ := old.Ticket("admin@pve", now)
	pub1, _ := store.Get(AuthPubPath)

	// Not yet a day old: nothing changes.
	if err := s.EnsureKeys(context.Background(), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, _ := store.Get(AuthPubPath); p.Version != pub1.Version {
		t.Fatal("key replaced before it was due")
	}
	// A day later the key is replaced; the old public key is kept.
	if err := s.EnsureKeys(context.Background(), now.Add(KeyRotation+time.Minute)); err != nil {
		t.Fatal(err)
	}
	pub2, _ := store.Get(AuthPubPath)
	prev, err := store.Get(AuthPubOldPath)
	if err != nil || pub2.Version == pub1.Version || string(prev.Data) != string(pub1.Data) {
		t.Fatalf("rotation: new %d old %d, previous kept: %v", pub2.Version, pub1.Version, err)
	}
	cur, err := s.loadSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cur.VerifyTicket(ticket, now.Add(time.Minute)); err != nil {
		t.Fatalf("a ticket from before the rotation is refused: %v", err)
	}
	fresh, _ := cur.Ticket("admin@pve", now)
	if _, _, err := old.VerifyTicket(fresh, now); err == nil {
		t.Fatal("the old signer verifies tickets of the new key")
	}
}

const usersWithToken = `user:admin@pve:1:0:::::::
user:alice@pve:1:0:::::::
token:alice@pve!ci:0:1::
token:alice@pve!old:1:0::
user:gone@pve:0:0:::::::
token:gone@pve!ci:0:0::


acl:1:/vms/100:alice@pve:PVEVMUser:
acl:1:/vms:alice@pve!ci:PVEAuditor:
acl:1:/:admin@pve:Administrator:
`

func TestAPITokens(t *testing.T) {
	s, store := newService(t)
	write(t, store, UserCfgPath, usersWithToken)
	write(t, store, TokenPath, "alice@pve!ci 11111111-2222-3333-4444-555555555555\nalice@pve!old 66666666-2222-3333-4444-555555555555\ngone@pve!ci 77777777-2222-3333-4444-555555555555\n")
	tests := []struct {
		id, secret string
		ok         bool
	}{
		{"alice@pve!ci", "11111111-2222-3333-4444-555555555555", true},
		{"alice@pve!ci", "11111111-2222-3333-4444-555555555556", false},
		{"alice@pve!old", "66666666-2222-3333-4444-555555555555", false}, // expired in 1970
		{"gone@pve!ci", "77777777-2222-3333-4444-555555555555", false},   // user disabled
		{"alice@pve!nope", "11111111-2222-3333-4444-555555555555", false},
		{"alice@pve", "11111111-2222-3333-4444-555555555555", false},
	}
	for _, tt := range tests {
		user, err := s.VerifyToken(tt.id, tt.secret)
		if (err == nil) != tt.ok || (tt.ok && user != "alice@pve") {
			t.Errorf("VerifyToken(%s) = %q, %v; want ok=%v", tt.id, user, err, tt.ok)
		}
	}
	// With privilege separation the token sees only what both allow.
	tok := s.Checker("alice@pve", "alice@pve!ci")
	if !tok.Has("/vms/100", "VM.Audit") || tok.Has("/vms/100", "VM.PowerMgmt") || tok.Has("/vms/101", "VM.Audit") {
		t.Fatal("privilege-separated token rights are not the intersection")
	}
	user := s.Checker("alice@pve", "")
	if !user.Has("/vms/100", "VM.PowerMgmt") || user.Has("/vms/101", "VM.Audit") {
		t.Fatal("user rights")
	}
}

func TestTicketsOfDisabledUsersStopWorking(t *testing.T) {
	s, store := newService(t)
	write(t, store, UserCfgPath, usersWithToken)
	st, _ := s.current()
	ticket, _ := st.signer.Ticket("alice@pve", time.Now())
	if user, err := s.VerifyTicket(ticket); err != nil || user != "alice@pve" {
		t.Fatalf("enabled user: %q %v", user, err)
	}
	write(t, store, UserCfgPath, strings.Replace(usersWithToken, "user:alice@pve:1:", "user:alice@pve:0:", 1))
	if _, err := s.VerifyTicket(ticket); !errors.Is(err, ErrTicket) {
		t.Fatalf("disabled user's ticket: %v", err)
	}
}

func TestLoginCapOfARestrictedUser(t *testing.T) {
	s, store := newService(t)
	write(t, store, UserCfgPath, usersWithToken)
	sh := &pve.Shadow{}
	if err := sh.SetPassword("alice@pve", "alice-password"); err != nil {
		t.Fatal(err)
	}
	write(t, store, ShadowPath, string(sh.Bytes()))

	tk, err := s.login(context.Background(), &api.Call{RemoteAddr: "192.0.2.1:1234"}, &api.TicketParams{Username: "alice", Realm: "pve", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Cap["vms"]["VM.PowerMgmt"] != 1 || tk.Cap["vms"]["VM.Allocate"] != 0 || len(tk.Cap["nodes"]) != 0 || len(tk.Cap["access"]) != 0 {
		t.Fatalf("cap of a VM user: %v", tk.Cap)
	}
	for _, area := range []string{"vms", "access", "storage", "nodes", "sdn", "dc", "mapping"} {
		if _, ok := tk.Cap[area]; !ok {
			t.Errorf("cap lacks area %s", area)
		}
	}
	if _, err := s.login(context.Background(), &api.Call{}, &api.TicketParams{Username: "alice@pve", Password: "wrong-password"}); err != api.ErrAuthFailed {
		t.Fatalf("wrong password: %v", err)
	}
	// Verify-only mode: the ticket holder has VM.Audit on /vms/100 but not on /.
	ok := &api.TicketParams{Username: "alice@pve", Password: tk.Ticket, Path: "/vms/100", Privs: "VM.Audit"}
	if res, err := s.login(context.Background(), &api.Call{}, ok); err != nil || res.Ticket != "" || res.Username != "alice@pve" {
		t.Fatalf("verify-only allowed: %+v %v", res, err)
	}
	no := &api.TicketParams{Username: "alice@pve", Password: tk.Ticket, Path: "/", Privs: "Sys.Modify"}
	if _, err := s.login(context.Background(), &api.Call{}, no); err != api.ErrAuthFailed {
		t.Fatalf("verify-only denied: %v", err)
	}
}
