package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/realm/pve"
	"github.com/hearth-virt/hearth/internal/access/tfa"
	"github.com/hearth-virt/hearth/internal/access/usercfg"
	"github.com/hearth-virt/hearth/internal/cfs"
)

// txn is one change to the access-control files: handlers read and change
// what they need, and commit writes every changed file in a single
// conditional cluster transaction. A concurrent writer makes the whole
// change start over on the newer files, so two administrators never undo
// each other and a user is never left half created (say, in user.cfg but
// without the password in priv/shadow.cfg).
type txn struct {
	s     *Service
	files map[string]*txnFile

	users  *usercfg.Config
	shadow *pve.Shadow
	tokens map[string]string
	dom    *domains

	tfaFile *tfa.File
}

type txnFile struct {
	data    []byte
	version uint64
	exists  bool
	out     []byte // nil: unchanged
	deleted bool
}

const maxTxnAttempts = 5

// edit runs fn on fresh copies of the files and commits what it changed,
// retrying when another writer got there first. fn must be repeatable.
func (s *Service) edit(ctx context.Context, fn func(t *txn) error) error {
	for attempt := 1; ; attempt++ {
		t := &txn{s: s, files: map[string]*txnFile{}}
		if err := fn(t); err != nil {
			return err
		}
		ops, err := t.ops()
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil
		}
		_, err = s.store.Apply(ctx, ops...)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, cfs.ErrConflict):
			return err
		case attempt == maxTxnAttempts:
			return fmt.Errorf("the access control files kept changing while this change was being written (%d attempts); try again", maxTxnAttempts)
		}
	}
}

// file reads path once per transaction.
func (t *txn) file(path string) (*txnFile, error) {
	if f, ok := t.files[path]; ok {
		return f, nil
	}
	f := &txnFile{}
	e, err := t.s.store.Get(path)
	switch {
	case errors.Is(err, cfs.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		f.data, f.version, f.exists = e.Data, e.Version, true
	}
	t.files[path] = f
	return f, nil
}

// read returns the current content of path (nil when missing).
func (t *txn) read(path string) ([]byte, error) {
	f, err := t.file(path)
	if err != nil {
		return nil, err
	}
	return f.data, nil
}

// write sets the new content of path.
func (t *txn) write(path string, data []byte) error {
	f, err := t.file(path)
	if err != nil {
		return err
	}
	f.out, f.deleted = data, false
	return nil
}

// remove deletes path at commit (if it exists).
func (t *txn) remove(path string) error {
	f, err := t.file(path)
	if err != nil {
		return err
	}
	f.out, f.deleted = nil, f.exists
	return nil
}

// Users returns user.cfg, parsed once per transaction; it is written back
// at commit.
func (t *txn) Users() (*usercfg.Config, error) {
	if t.users == nil {
		data, err := t.read(UserCfgPath)
		if err != nil {
			return nil, err
		}
		t.users, _ = usercfg.Parse(data)
	}
	return t.users, nil
}

// Shadow returns the pve realm's password file.
func (t *txn) Shadow() (*pve.Shadow, error) {
	if t.shadow == nil {
		data, err := t.read(ShadowPath)
		if err != nil {
			return nil, err
		}
		t.shadow, _ = pve.ParseShadow(data)
	}
	return t.shadow, nil
}

// setPassword sets a pve realm password in priv/shadow.cfg.
func (t *txn) setPassword(userid, password string) error {
	sh, err := t.Shadow()
	if err != nil {
		return err
	}
	if err := sh.SetPassword(userid, password); err != nil {
		return api.ParamError("password", "%v", err)
	}
	return nil
}

// Tokens returns the token secrets by full token id.
func (t *txn) Tokens() (map[string]string, error) {
	if t.tokens == nil {
		data, err := t.read(TokenPath)
		if err != nil {
			return nil, err
		}
		t.tokens = parseTokenSecrets(data)
	}
	return t.tokens, nil
}

// ops turns the changes into writes conditional on the version read, so
// a change decided on stale data fails and is redone. Files only read are
// not guarded (the file system has no read condition); handlers write
// every file whose content their decision rests on.
func (t *txn) ops() ([]cfs.Op, error) {
	if t.users != nil {
		if err := t.write(UserCfgPath, t.users.Bytes()); err != nil {
			return nil, err
		}
	}
	if t.shadow != nil {
		if err := t.write(ShadowPath, t.shadow.Bytes()); err != nil {
			return nil, err
		}
	}
	if t.tokens != nil {
		if err := t.write(TokenPath, tokenSecretsBytes(t.tokens)); err != nil {
			return nil, err
		}
	}
	if t.tfaFile != nil {
		data, err := t.tfaFile.Bytes()
		if err != nil {
			return nil, err
		}
		if err := t.write(TFAPath, data); err != nil {
			return nil, err
		}
	}
	if t.dom != nil {
		if err := t.write(DomainsPath, t.dom.bytes()); err != nil {
			return nil, err
		}
	}
	var ops []cfs.Op
	for path, f := range t.files {
		cond := cfs.Cond{Version: f.version}
		if !f.exists {
			cond = cfs.Cond{MustNotExist: true}
		}
		switch {
		case f.deleted:
			ops = append(ops, cfs.Delete(path).If(cond))
		case f.out != nil && !(f.exists && bytes.Equal(f.out, f.data)):
			ops = append(ops, cfs.Write(path, f.out).If(cond))
		}
	}
	return ops, nil
}
