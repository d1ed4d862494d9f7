package tfa

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// fixedNow sits in the middle of a 30-second step, so ±15s stays in it.
var fixedNow = time.Unix(1_700_000_115, 0)

const (
	testSecret = "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ"
	testURI    = "otpauth://totp/Hearth:alice%40pve?secret=" + testSecret + "&issuer=Hearth"
)

// newFile returns an empty File with repeatable randomness.
func newFile(t *testing.T) *File {
	t.Helper()
	f := mustParse(t, "")
	f.Rand = rand.NewChaCha8([32]byte{1, 2, 3})
	return f
}

func codeAt(t *testing.T, secret string, at time.Time, digits otp.Digits, alg otp.Algorithm) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: digits, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func code(t *testing.T, at time.Time) string {
	return codeAt(t, testSecret, at, otp.DigitsSix, otp.AlgorithmSHA1)
}

// addTOTP sets up alice with testURI, using the code of the step before
// fixedNow so that fixedNow's own code is still fresh for login.
func addTOTP(t *testing.T, f *File) string {
	t.Helper()
	id, err := f.AddTOTP("alice@pve", "phone", testURI, code(t, fixedNow.Add(-30*time.Second)), fixedNow)
	if err != nil {
		t.Fatalf("AddTOTP: %v", err)
	}
	return id
}

func TestAddTOTPNeedsTheCurrentCode(t *testing.T) {
	f := newFile(t)
	_, err := f.AddTOTP("alice@pve", "phone", testURI, code(t, fixedNow.Add(-5*time.Minute)), fixedNow)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("stale code: err = %v, want ErrInvalid", err)
	}
	if f.HasAny("alice@pve") {
		t.Fatal("a refused TOTP was stored")
	}
	id := addTOTP(t, f)
	e, err := f.Get("alice@pve", id)
	if err != nil || e.Type != TypeTOTP || e.Description != "phone" || e.Created != fixedNow.Unix() || !e.Enable {
		t.Errorf("Get = %+v, %v", e, err)
	}
}

func TestAddTOTPChecksTheURI(t *testing.T) {
	for _, tc := range []struct{ name, uri string }{
		{"not a uri", "hello"},
		{"hotp", "otpauth://hotp/a?secret=" + testSecret + "&counter=1"},
		{"no secret", "otpauth://totp/a?issuer=x"},
		{"short secret", "otpauth://totp/a?secret=MFRGG"},
		{"not base32", "otpauth://totp/a?secret=" + testSecret + "1"},
		{"md5", "otpauth://totp/a?secret=" + testSecret + "&algorithm=MD5"},
		{"unknown algorithm", "otpauth://totp/a?secret=" + testSecret + "&algorithm=SHA3"},
		{"five digits", "otpauth://totp/a?secret=" + testSecret + "&digits=5"},
		{"zero period", "otpauth://totp/a?secret=" + testSecret + "&period=0"},
		{"steam", "otpauth://totp/a?secret=" + testSecret + "&encoder=steam"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t)
			if _, err := f.AddTOTP("alice@pve", "", tc.uri, code(t, fixedNow), fixedNow); err == nil {
				t.Errorf("AddTOTP(%q) succeeded", tc.uri)
			}
		})
	}
}

func TestAddTOTPHonoursURIParameters(t *testing.T) {
	f := newFile(t)
	uri := "otpauth://totp/a?secret=" + strings.ToLower(testSecret) + "&digits=8&algorithm=SHA256"
	c := codeAt(t, testSecret, fixedNow, otp.DigitsEight, otp.AlgorithmSHA256)
	if _, err := f.AddTOTP("alice@pve", "", uri, c, fixedNow); err != nil {
		t.Fatalf("AddTOTP: %v", err)
	}
	next := fixedNow.Add(30 * time.Second)
	if err := f.Verify("alice@pve", "totp:"+codeAt(t, testSecret, next, otp.DigitsEight, otp.AlgorithmSHA256), next, nil); err != nil {
		t.Errorf("Verify with 8-digit SHA256 code: %v", err)
	}
}

// TestTOTPWindow pins the accepted clock skew: one step either way.
func TestTOTPWindow(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-90 * time.Second, false},
		{-30 * time.Second, false}, // the step used at setup
		{0, true},
		{30 * time.Second, true},
		{60 * time.Second, false},
	} {
		t.Run(tc.offset.String(), func(t *testing.T) {
			f := newFile(t)
			addTOTP(t, f)
			err := f.Verify("alice@pve", "totp:"+code(t, fixedNow.Add(tc.offset)), fixedNow, nil)
			if tc.ok && err != nil {
				t.Errorf("code at %v refused: %v", tc.offset, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("code at %v: err = %v, want ErrInvalid", tc.offset, err)
			}
		})
	}
	// A slow phone: the code of the previous step, one step after setup.
	f := newFile(t)
	addTOTP(t, f)
	later := fixedNow.Add(60 * time.Second)
	if err := f.Verify("alice@pve", "totp:"+code(t, later.Add(-30*time.Second)), later, nil); err != nil {
		t.Errorf("code one step behind refused: %v", err)
	}
}

func TestTOTPReplayRefused(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	c := code(t, fixedNow)
	if err := f.Verify("alice@pve", "totp:"+c, fixedNow, nil); err != nil {
		t.Fatalf("first use: %v", err)
	}
	// The replay state must survive the file being written and read back.
	f = reparse(t, f)
	if err := f.Verify("alice@pve", "totp:"+c, fixedNow.Add(10*time.Second), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replay: err = %v, want ErrInvalid", err)
	}
	// An older step than the last used one is refused too.
	if err := f.Verify("alice@pve", "totp:"+code(t, fixedNow.Add(-30*time.Second)), fixedNow, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("older step: err = %v, want ErrInvalid", err)
	}
	next := fixedNow.Add(30 * time.Second)
	if err := f.Verify("alice@pve", "totp:"+code(t, next), next, nil); err != nil {
		t.Fatalf("next step: %v", err)
	}
}

func TestTOTPLocksAfterEightFailures(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	now := fixedNow
	for i := 1; i <= 8; i++ {
		if err := f.Verify("alice@pve", "totp:000000", now, nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("wrong code %d: err = %v, want ErrInvalid", i, err)
		}
		if locked := f.Lock("alice@pve", now).TOTPLocked; locked != (i == 8) {
			t.Fatalf("after %d wrong codes TOTPLocked = %v", i, locked)
		}
	}
	f = reparse(t, f)
	if err := f.Verify("alice@pve", "totp:"+code(t, now), now, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("right code while locked: err = %v, want ErrLocked", err)
	}
	if _, err := f.Challenge("alice@pve", now, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("Challenge while the only factor is locked: %v, want ErrLocked", err)
	}
	if !f.Unlock("alice@pve") {
		t.Fatal("Unlock reported nothing locked")
	}
	if f.Unlock("alice@pve") {
		t.Fatal("second Unlock reported a lock")
	}
	if err := f.Verify("alice@pve", "totp:"+code(t, now), now, nil); err != nil {
		t.Fatalf("right code after unlock: %v", err)
	}
}

func TestTOTPFailureCountResetsOnSuccess(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	now := fixedNow
	for range 7 {
		_ = f.Verify("alice@pve", "totp:000000", now, nil)
	}
	if err := f.Verify("alice@pve", "totp:"+code(t, now), now, nil); err != nil {
		t.Fatal(err)
	}
	for range 7 {
		_ = f.Verify("alice@pve", "totp:000000", now, nil)
	}
	if f.Lock("alice@pve", now).TOTPLocked {
		t.Error("7 + 7 wrong codes around a right one locked TOTP")
	}
}

// TestAllFactorsLockForAWhile uses small limits to pin the general lock:
// it refuses every kind, then runs out.
func TestAllFactorsLockForAWhile(t *testing.T) {
	f := newFile(t)
	f.Limits = Limits{Failures: 5, LockFor: 10 * time.Minute}
	addTOTP(t, f)
	keys, err := f.AddRecovery("alice@pve", "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	now := fixedNow
	for i := range 5 {
		if err := f.Verify("alice@pve", "recovery:nope", now, nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("wrong key %d: %v", i, err)
		}
	}
	until := f.Lock("alice@pve", now).LockedUntil
	if until != now.Add(10*time.Minute).Unix() {
		t.Fatalf("LockedUntil = %d, want %d", until, now.Add(10*time.Minute).Unix())
	}
	if out, _ := f.Bytes(); !strings.Contains(string(out), `"tfa-locked-until":`) {
		t.Errorf("lock not written: %s", out)
	}
	if err := f.Verify("alice@pve", "recovery:"+keys[0], now, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("right key while locked: %v", err)
	}
	if err := f.Verify("alice@pve", "totp:"+code(t, now), now, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("right code while locked: %v", err)
	}
	if _, err := f.Challenge("alice@pve", now, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Challenge while locked: %v", err)
	}
	later := now.Add(10 * time.Minute)
	if err := f.Verify("alice@pve", "recovery:"+keys[0], later, nil); err != nil {
		t.Fatalf("right key after the lock ran out: %v", err)
	}
	if s := f.Lock("alice@pve", later); s != (LockState{}) {
		t.Errorf("lock state after success = %+v", s)
	}
}

func TestVerifyRefusesMalformedAndUnknownKinds(t *testing.T) {
	f := newFile(t)
	addTOTP(t, f)
	for _, tc := range []struct {
		answer string
		want   error
	}{
		{"123456", ErrInvalid},
		{"sms:123456", ErrInvalid},
		{"yubico:cccccbhuibvkxyz", ErrUnsupported},
		{"recovery:aaaa-bbbb-cccc-dddd", ErrNotConfigured},
		{"webauthn:{}", ErrNotConfigured},
	} {
		if err := f.Verify("alice@pve", tc.answer, fixedNow, nil); !errors.Is(err, tc.want) {
			t.Errorf("Verify(%q) = %v, want %v", tc.answer, err, tc.want)
		}
	}
	if f.user("alice@pve").tfaFailures != 0 {
		t.Error("answers that guess nothing were counted as failures")
	}
}

func reparse(t *testing.T, f *File) *File {
	t.Helper()
	data, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	g := mustParse(t, string(data))
	g.Rand, g.Limits = f.Rand, f.Limits
	return g
}
