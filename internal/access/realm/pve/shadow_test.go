package pve

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/pwhash"
)

// Hashes as a Proxmox VE node writes them (SHA-256-crypt, 8-character salt
// from standard base64, implicit 5000 rounds), made with openssl passwd.
const (
	adminHash = "$5$Xy+3/aB9$wOkBqKeCMWgiMdyz7euhWJvlMr2wyA1jWkdOzC2cnA4" // "hunter2hunter2"
	janeHash  = "$5$Qm0/Pz+1$ndv2oGf6AU.ZaEu0yqlEbTtTNoSRrOIOVYBmuwoMLkB" // "Grüße aus Wien"
	// SHA-512-crypt with an explicit low cost, as a Hearth node could write.
	bobHash = "$6$rounds=1000$abcdefgh$NUH64lvLFlYjj5os9/SVscbTSvlhn1K1aDMa5iSnGg6aKw/PDKpp3.fDK4Tsn1/Xw93yo5JX1tvroUcQxRiv.1" // "sixsixsix"
)

// emptyHash is SHA-256-crypt of the empty password.
const emptyHash = "$5$salt$HrcUzzoef72uxM/YhTU5BAi419Fblqlq//zyM.rIOG0"

// canonical is a file in the form Bytes writes: sorted, one line per user.
const canonical = "admin@pve:" + adminHash + ":\n" +
	"bob@pve:" + bobHash + ":\n" +
	"jane@example.com@pve:" + janeHash + ":\n"

func TestParseShadowThenBytesReproducesCanonicalFile(t *testing.T) {
	s, warnings := ParseShadow([]byte(canonical))
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if got := string(s.Bytes()); got != canonical {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, canonical)
	}
}

func TestParseShadowAcceptsLooseLayoutAndBytesSortsIt(t *testing.T) {
	loose := "\n  jane@example.com@pve:" + janeHash + ":  \r\n" +
		"\t\n" +
		"bob@pve:" + bobHash + ":\r\n" +
		"admin@pve:" + adminHash + ":" // no final newline
	s, warnings := ParseShadow([]byte(loose))
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if got := string(s.Bytes()); got != canonical {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, canonical)
	}
}

func TestParseShadowDropsGarbageLinesWithWarnings(t *testing.T) {
	d43 := strings.Repeat("a", 43)
	tests := []struct{ name, line, warning string }{
		{"no trailing colon", "eve@pve:" + adminHash, "line 2 dropped: does not end with ':'"},
		{"one field", "eve@pve:", "single field"},
		{"three fields", "eve@pve:" + adminHash + ":extra:", "more fields"},
		{"empty userid", ":" + adminHash + ":", "empty userid"},
		{"empty hash", "eve@pve::", `empty password hash for "eve@pve"`},
		{"space in hash", "eve@pve:$5$salt $" + d43 + ":", "contains a space"},
		{"space in userid", "eve smith@pve:" + adminHash + ":", `user id "eve smith@pve"`},
		{"no realm", "eve:" + adminHash + ":", "is not a user id"},
		{"bad realm", "eve@1x:" + adminHash + ":", "realm"},
		{"comment", "# users of the pve realm", "does not end with ':'"},
		{"binary", "\x00\x01\x02:\xff:", "dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "admin@pve:" + adminHash + ":\n" + tt.line + "\nbob@pve:" + bobHash + ":\n"
			s, warnings := ParseShadow([]byte(data))
			if len(warnings) != 1 || !strings.Contains(warnings[0], tt.warning) || !strings.HasPrefix(warnings[0], "line 2 ") {
				t.Errorf("warnings = %q; want one for line 2 mentioning %q", warnings, tt.warning)
			}
			for _, w := range warnings {
				if strings.Contains(w, adminHash) || strings.Contains(w, "$5$") {
					t.Errorf("warning %q quotes a hash", w)
				}
			}
			want := "admin@pve:" + adminHash + ":\nbob@pve:" + bobHash + ":\n"
			if got := string(s.Bytes()); got != want {
				t.Errorf("Bytes() =\n%s\nwant the two good lines\n%s", got, want)
			}
		})
	}
}

func TestParseShadowKeepsQuestionableEntriesWithWarnings(t *testing.T) {
	tests := []struct{ name, line, warning string }{
		{"other realm", "root@pam:" + adminHash + ":", `"root@pam" is not in the pve realm`},
		{"unsupported hash", "old@pve:$1$salt$qJH7.N4xYta3aEG/dfqo/0:", `hash of "old@pve" cannot be checked`},
		{"damaged hash", "cut@pve:$5$Xy+3/aB9$wOkBqKe:", "cannot be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, warnings := ParseShadow([]byte(tt.line + "\n"))
			if len(warnings) != 1 || !strings.Contains(warnings[0], tt.warning) {
				t.Errorf("warnings = %q; want one mentioning %q", warnings, tt.warning)
			}
			// Kept so that rewriting the file does not lose the line.
			if got := string(s.Bytes()); got != tt.line+"\n" {
				t.Errorf("Bytes() = %q; want the line kept", got)
			}
		})
	}
}

func TestParseShadowLastDuplicateWins(t *testing.T) {
	data := "admin@pve:" + janeHash + ":\nbob@pve:" + bobHash + ":\nadmin@pve:" + adminHash + ":\n"
	s, warnings := ParseShadow([]byte(data))
	if len(warnings) != 1 || !strings.Contains(warnings[0], `line 3 replaces line 1: duplicate entry for "admin@pve"`) {
		t.Errorf("warnings = %q", warnings)
	}
	if !s.Verify("admin@pve", "hunter2hunter2") {
		t.Errorf("the later entry for admin@pve is not the one in force")
	}
}

func TestParseShadowOfNothingIsEmpty(t *testing.T) {
	for _, data := range [][]byte{nil, {}, []byte("\n\n  \r\n")} {
		s, warnings := ParseShadow(data)
		if len(warnings) != 0 || len(s.Bytes()) != 0 {
			t.Errorf("ParseShadow(%q): warnings %q, Bytes %q; want none and empty", data, warnings, s.Bytes())
		}
	}
}

func TestVerifyChecksPasswordsOfPVEAndHearthHashes(t *testing.T) {
	s, _ := ParseShadow([]byte(canonical + "root@pam:" + adminHash + ":\nold@pve:$1$salt$qJH7.N4xYta3aEG/dfqo/0:\n" +
		"empty@pve:" + emptyHash + ":\n"))
	tests := []struct {
		userid, password string
		want             bool
	}{
		{"admin@pve", "hunter2hunter2", true},
		{"jane@example.com@pve", "Grüße aus Wien", true},
		{"bob@pve", "sixsixsix", true},
		{"admin@pve", "hunter2hunter", false},
		{"admin@pve", "", false},
		{"empty@pve", "", false},               // even where the stored hash is of ""
		{"Admin@pve", "hunter2hunter2", false}, // ids are case-sensitive
		{"nobody@pve", "hunter2hunter2", false},
		{"admin@pam", "hunter2hunter2", false},
		{"root@pam", "hunter2hunter2", false}, // entry exists but is outside the realm
		{"old@pve", "anything", false},        // unsupported hash
		{"", "", false},
	}
	for _, tt := range tests {
		if got := s.Verify(tt.userid, tt.password); got != tt.want {
			t.Errorf("Verify(%q, %q) = %v; want %v", tt.userid, tt.password, got, tt.want)
		}
	}
}

func TestDummyHashHasTheCostOfNewHashes(t *testing.T) {
	if err := pwhash.Validate(dummyHash); err != nil {
		t.Fatalf("dummyHash: %v", err)
	}
	// Unknown users must cost what a current hash costs; when DefaultRounds
	// changes, regenerate dummyHash with pwhash.HashWith.
	want := "$6$rounds=" + strconv.Itoa(pwhash.DefaultRounds) + "$"
	if !strings.HasPrefix(dummyHash, want) {
		t.Errorf("dummyHash does not start with %s", want)
	}
	fresh, err := pwhash.Hash("x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, want) {
		t.Errorf("pwhash.Hash makes %s…; dummyHash no longer matches its cost", fresh[:20])
	}
}

func TestSetPasswordStoresANewHash(t *testing.T) {
	s, _ := ParseShadow([]byte(canonical))
	if err := s.SetPassword("admin@pve", "new password"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword("carol@pve", "carol's password"); err != nil {
		t.Fatal(err)
	}
	if s.Verify("admin@pve", "hunter2hunter2") || !s.Verify("admin@pve", "new password") {
		t.Errorf("admin@pve: old password still works or new one does not")
	}
	if !s.Has("carol@pve") || !s.Verify("carol@pve", "carol's password") {
		t.Errorf("carol@pve was not added")
	}
	out := string(s.Bytes())
	if !strings.Contains(out, "\ncarol@pve:$6$rounds=") || strings.Contains(out, adminHash) {
		t.Errorf("Bytes() =\n%s", out)
	}
	// What SetPassword wrote must read back unchanged and without warnings.
	again, warnings := ParseShadow([]byte(out))
	if len(warnings) != 0 || string(again.Bytes()) != out {
		t.Errorf("re-reading the written file: warnings %q, changed %v", warnings, string(again.Bytes()) != out)
	}
}

func TestSetPasswordRefusesBadInputNamingTheRule(t *testing.T) {
	const pw = "long enough secret"
	tests := []struct{ name, userid, password, mention string }{
		{"no realm", "admin", pw, `"admin" is not a user id`},
		{"colon in user", "ad:min@pve", pw, `"ad:min@pve"`},
		{"other realm", "root@pam", pw, `"root@pam" is not in the pve realm`},
		{"short password", "admin@pve", "seven77", "at least 8 characters"},
		{"long password", "admin@pve", strings.Repeat("x", 65), "at most 64 characters"},
		{"NUL in password", "admin@pve", "with\x00nul byte", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := ParseShadow([]byte(canonical))
			err := s.SetPassword(tt.userid, tt.password)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("SetPassword = %v; want an error mentioning %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q contains the password", err)
			}
			if got := string(s.Bytes()); got != canonical {
				t.Errorf("a refused SetPassword changed the file:\n%s", got)
			}
		})
	}
}

func TestDeleteAndHas(t *testing.T) {
	s, _ := ParseShadow([]byte(canonical))
	if !s.Has("bob@pve") {
		t.Fatal("bob@pve missing")
	}
	s.Delete("bob@pve")
	s.Delete("nobody@pve") // absent: no effect
	if s.Has("bob@pve") || s.Verify("bob@pve", "sixsixsix") {
		t.Errorf("bob@pve still present after Delete")
	}
	want := "admin@pve:" + adminHash + ":\njane@example.com@pve:" + janeHash + ":\n"
	if got := string(s.Bytes()); got != want {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, want)
	}
}

func TestZeroShadowIsUsable(t *testing.T) {
	var s Shadow
	if s.Has("admin@pve") || s.Verify("admin@pve", "x") || len(s.Bytes()) != 0 {
		t.Errorf("zero Shadow is not empty")
	}
	s.Delete("admin@pve")
	if err := s.SetPassword("admin@pve", "first password"); err != nil {
		t.Fatal(err)
	}
	if !s.Verify("admin@pve", "first password") {
		t.Errorf("password set on a zero Shadow does not verify")
	}
}

func TestShadowIsSafeForConcurrentUse(t *testing.T) {
	s, _ := ParseShadow([]byte(canonical))
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if err := s.SetPassword("user"+strconv.Itoa(i)+"@pve", "password "+strconv.Itoa(i)); err != nil {
				t.Error(err)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			if !s.Verify("admin@pve", "hunter2hunter2") {
				t.Error("admin@pve does not verify during concurrent writes")
			}
			_ = s.Bytes()
			_ = s.Has("user0@pve")
		})
	}
	wg.Go(func() { s.Delete("bob@pve") })
	wg.Wait()
	if !s.Has("user0@pve") || !s.Has("user1@pve") || s.Has("bob@pve") {
		t.Errorf("Bytes() after concurrent writes =\n%s", s.Bytes())
	}
}

func TestBytesEndsEveryLineWithColonNewline(t *testing.T) {
	s, _ := ParseShadow([]byte(canonical))
	for _, line := range bytes.SplitAfter(s.Bytes(), []byte("\n")) {
		if len(line) > 0 && !bytes.HasSuffix(line, []byte(":\n")) {
			t.Errorf("line %q does not end in \":\\n\"", line)
		}
	}
}
