package tfa

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Entry type names, as the API and tfa.cfg spell them.
const (
	TypeTOTP     = "totp"
	TypeU2F      = "u2f"
	TypeWebAuthn = "webauthn"
	TypeRecovery = "recovery"
	TypeYubico   = "yubico"
)

// listTypes are the kinds stored as arrays of entries, in listing order.
var listTypes = [...]string{TypeTOTP, TypeU2F, TypeWebAuthn, TypeYubico}

// Limits says when failed answers lock a user out. The defaults follow the
// Proxmox VE documentation: TOTP codes are easy to guess at, so they lock
// early; WebAuthn and recovery keys are not, so the general limit is high.
type Limits struct {
	// TOTPFailures in a row set "totp-locked" (default 8).
	TOTPFailures int
	// Failures of any kind in a row set "tfa-locked-until" (default 100).
	Failures int
	// LockFor is how long "tfa-locked-until" lies ahead (default an hour).
	LockFor time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.TOTPFailures <= 0 {
		l.TOTPFailures = 8
	}
	if l.Failures <= 0 {
		l.Failures = 100
	}
	if l.LockFor <= 0 {
		l.LockFor = time.Hour
	}
	return l
}

// File is a parsed tfa.cfg. The zero value is not usable; use Parse, which
// accepts empty input for a cluster that has no file yet. A File is not
// safe for concurrent use: callers load, change and write it under the
// cluster file system's lock anyway.
type File struct {
	// Rand supplies randomness for ids, recovery keys and secrets; nil means
	// crypto/rand. Tests set it to get repeatable output.
	Rand io.Reader
	// Limits for lockouts; zero fields take the defaults.
	Limits Limits

	users map[string]*userData
	// extra holds top-level keys other than "users" (the "webauthn" and
	// "u2f" relying party settings among them), written back unchanged.
	extra map[string]json.RawMessage
}

// userData is one user's object under "users".
type userData struct {
	lists      map[string][]*entry // keyed by the listTypes
	recovery   *recovery
	totpLocked bool
	// lockedUntil is the "tfa-locked-until" unix time; 0 when absent.
	lockedUntil int64
	// Failure counters are Hearth's own keys; Proxmox VE keeps them
	// elsewhere and ignores them here.
	totpFailures int
	tfaFailures  int
	extra        map[string]json.RawMessage
}

// entry is one element of a "totp", "u2f", "webauthn" or "yubico" array.
type entry struct {
	id          string
	description string
	created     int64
	enable      bool
	// value is the "entry" member, kept verbatim: an otpauth URI string for
	// TOTP, a credential object for WebAuthn, whatever the others hold.
	value json.RawMessage
	// lastStep is the last accepted TOTP time step, so a code is never
	// accepted twice; stored as "last-step".
	lastStep int64
	extra    map[string]json.RawMessage
}

// recovery is the "recovery" object: HMACs of the keys under a per-user
// secret, a used key turning into null so the indices stay stable.
type recovery struct {
	secret      string
	entries     []*string
	created     int64
	description string
	extra       map[string]json.RawMessage
}

// Parse reads tfa.cfg. Unlike user.cfg it is strict: dropping an entry it
// could not read would quietly remove a user's second factor, so any
// malformed known member fails the whole file. Unknown members are kept.
func Parse(data []byte) (*File, error) {
	f := &File{users: map[string]*userData{}, extra: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return f, nil
	}
	top, err := object(data)
	if err != nil {
		return nil, fmt.Errorf("parse tfa.cfg: %w", err)
	}
	var users map[string]json.RawMessage
	if err := take(top, "users", &users); err != nil {
		return nil, fmt.Errorf("parse tfa.cfg: %w", err)
	}
	f.extra = top
	for id, raw := range users {
		u, err := parseUser(raw)
		if err != nil {
			return nil, fmt.Errorf("parse tfa.cfg: user %q: %w", id, err)
		}
		f.users[id] = u
	}
	return f, nil
}

func parseUser(raw json.RawMessage) (*userData, error) {
	m, err := object(raw)
	if err != nil {
		return nil, err
	}
	u := &userData{lists: map[string][]*entry{}}
	for _, typ := range listTypes {
		var items []json.RawMessage
		if err := take(m, typ, &items); err != nil {
			return nil, err
		}
		for i, item := range items {
			e, err := parseEntry(typ, item)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", typ, i, err)
			}
			u.lists[typ] = append(u.lists[typ], e)
		}
	}
	var rec json.RawMessage
	if err := take(m, TypeRecovery, &rec); err != nil {
		return nil, err
	}
	if len(rec) > 0 && string(rec) != "null" {
		if u.recovery, err = parseRecovery(rec); err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
	}
	var lockedUntil *int64
	if err := first(
		take(m, "totp-locked", &u.totpLocked),
		take(m, "tfa-locked-until", &lockedUntil),
		take(m, "totp-failures", &u.totpFailures),
		take(m, "tfa-failures", &u.tfaFailures),
	); err != nil {
		return nil, err
	}
	if lockedUntil != nil {
		u.lockedUntil = *lockedUntil
	}
	u.extra = m
	return u, nil
}

func parseEntry(typ string, raw json.RawMessage) (*entry, error) {
	m, err := object(raw)
	if err != nil {
		return nil, err
	}
	e := &entry{enable: true}
	if err := first(
		take(m, "id", &e.id),
		take(m, "description", &e.description),
		take(m, "created", &e.created),
		take(m, "enable", &e.enable),
		take(m, "entry", &e.value),
		take(m, "last-step", &e.lastStep),
	); err != nil {
		return nil, err
	}
	if e.id == "" {
		return nil, fmt.Errorf("entry without an id")
	}
	if len(e.value) == 0 {
		return nil, fmt.Errorf("entry %q has no \"entry\" member", e.id)
	}
	if typ == TypeTOTP {
		// The URI itself is checked when used; here it only has to be a
		// string so that TOTP code can rely on that.
		var s string
		if e.value[0] != '"' || json.Unmarshal(e.value, &s) != nil {
			return nil, fmt.Errorf("entry %q: TOTP entry is not a string", e.id)
		}
	}
	e.extra = m
	return e, nil
}

func parseRecovery(raw json.RawMessage) (*recovery, error) {
	m, err := object(raw)
	if err != nil {
		return nil, err
	}
	r := &recovery{}
	if err := first(
		take(m, "secret", &r.secret),
		take(m, "entries", &r.entries),
		take(m, "created", &r.created),
		take(m, "description", &r.description),
	); err != nil {
		return nil, err
	}
	if r.secret == "" {
		return nil, fmt.Errorf("no secret")
	}
	r.extra = m
	return r, nil
}

// Bytes writes the file as compact JSON with sorted keys, so the same
// content always produces the same bytes.
func (f *File) Bytes() ([]byte, error) {
	top := clone(f.extra)
	users := make(map[string]json.RawMessage, len(f.users))
	for id, u := range f.users {
		raw, err := u.marshal()
		if err != nil {
			return nil, fmt.Errorf("write tfa.cfg: user %q: %w", id, err)
		}
		users[id] = raw
	}
	if len(users) > 0 {
		if err := put(top, "users", users); err != nil {
			return nil, fmt.Errorf("write tfa.cfg: %w", err)
		}
	}
	return marshal(top)
}

func (u *userData) marshal() (json.RawMessage, error) {
	m := clone(u.extra)
	for _, typ := range listTypes {
		if len(u.lists[typ]) == 0 {
			continue
		}
		items := make([]json.RawMessage, 0, len(u.lists[typ]))
		for _, e := range u.lists[typ] {
			raw, err := e.marshal()
			if err != nil {
				return nil, err
			}
			items = append(items, raw)
		}
		if err := put(m, typ, items); err != nil {
			return nil, err
		}
	}
	var errs []error
	if u.recovery != nil {
		rm := clone(u.recovery.extra)
		errs = append(errs,
			put(rm, "secret", u.recovery.secret),
			put(rm, "entries", u.recovery.entries),
			put(rm, "created", u.recovery.created))
		if u.recovery.description != "" {
			errs = append(errs, put(rm, "description", u.recovery.description))
		}
		errs = append(errs, put(m, TypeRecovery, rm))
	}
	// Proxmox VE leaves the lock members out when they are not set.
	if u.totpLocked {
		errs = append(errs, put(m, "totp-locked", true))
	}
	if u.lockedUntil != 0 {
		errs = append(errs, put(m, "tfa-locked-until", u.lockedUntil))
	}
	if u.totpFailures != 0 {
		errs = append(errs, put(m, "totp-failures", u.totpFailures))
	}
	if u.tfaFailures != 0 {
		errs = append(errs, put(m, "tfa-failures", u.tfaFailures))
	}
	if err := first(errs...); err != nil {
		return nil, err
	}
	return marshal(m)
}

func (e *entry) marshal() (json.RawMessage, error) {
	m := clone(e.extra)
	errs := []error{
		put(m, "id", e.id),
		put(m, "created", e.created),
		put(m, "entry", e.value),
	}
	// Like Proxmox VE: no empty description, and "enable" only when false.
	if e.description != "" {
		errs = append(errs, put(m, "description", e.description))
	}
	if !e.enable {
		errs = append(errs, put(m, "enable", false))
	}
	if e.lastStep != 0 {
		errs = append(errs, put(m, "last-step", e.lastStep))
	}
	if err := first(errs...); err != nil {
		return nil, err
	}
	return marshal(m)
}

// empty reports whether the user object carries nothing worth keeping.
func (u *userData) empty() bool {
	for _, typ := range listTypes {
		if len(u.lists[typ]) > 0 {
			return false
		}
	}
	return u.recovery == nil && !u.totpLocked && u.lockedUntil == 0 &&
		u.totpFailures == 0 && u.tfaFailures == 0 && len(u.extra) == 0
}

// Users returns the ids of users that have an object in the file, sorted.
func (f *File) Users() []string {
	ids := make([]string, 0, len(f.users))
	for id := range f.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// RemoveUser drops everything stored for userid, for when the user itself
// is deleted. It reports whether there was anything.
func (f *File) RemoveUser(userid string) bool {
	_, ok := f.users[userid]
	delete(f.users, userid)
	return ok
}

func (f *File) user(userid string) *userData {
	return f.users[userid]
}

// userForWrite returns the user's object, creating it when missing.
func (f *File) userForWrite(userid string) *userData {
	u := f.users[userid]
	if u == nil {
		u = &userData{lists: map[string][]*entry{}, extra: map[string]json.RawMessage{}}
		f.users[userid] = u
	}
	return u
}

func (f *File) random(n int) ([]byte, error) {
	r := f.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}

// newID returns a random UUID-shaped id not yet used by the user.
func (f *File) newID(u *userData) (string, error) {
	for {
		b, err := f.random(16)
		if err != nil {
			return "", err
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		h := hex.EncodeToString(b)
		id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		if _, _, ok := u.find(id); !ok {
			return id, nil
		}
	}
}

// find locates a list entry by id.
func (u *userData) find(id string) (typ string, index int, ok bool) {
	for _, t := range listTypes {
		for i, e := range u.lists[t] {
			if e.id == id {
				return t, i, true
			}
		}
	}
	return "", 0, false
}

// object decodes a JSON object into its members; null counts as empty.
func object(raw []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// take moves member key out of m into dst; a missing member leaves dst
// alone, so callers set defaults first.
func take(m map[string]json.RawMessage, key string, dst any) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	delete(m, key)
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("member %q: %w", key, err)
	}
	return nil
}

func put(m map[string]json.RawMessage, key string, v any) error {
	raw, err := marshal(v)
	if err != nil {
		return fmt.Errorf("member %q: %w", key, err)
	}
	m[key] = raw
	return nil
}

// marshal is json.Marshal without HTML escaping, which would only turn
// "&" and "<" in descriptions into noise.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func clone(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m)+8)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
