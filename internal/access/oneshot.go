package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// oneShot keeps short-lived, single-use records in the replicated tree:
// pending OpenID logins and WebAuthn challenges. A login may start on one
// node and finish on another behind a load balancer, so memory of one
// node is not enough. Files are named by a hash of the key, which is a
// bearer secret until used.
type oneShot struct {
	store *cfs.Store
	dir   string
	ttl   time.Duration
}

// oneShotRecord is the file content: the caller's data and when it was made.
type oneShotRecord struct {
	Created time.Time       `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// oneShotMaxPruned bounds the stale records removed with each new one, so
// records never taken do not pile up, without making one write slow.
const oneShotMaxPruned = 16

func (o oneShot) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return o.dir + "/" + hex.EncodeToString(sum[:16])
}

func (o oneShot) put(key string, data []byte, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := json.Marshal(oneShotRecord{Created: now, Data: data})
	if err != nil {
		return err
	}
	var ops []cfs.Op
	entries, err := o.store.List(o.dir)
	switch {
	case errors.Is(err, cfs.ErrNotFound):
		ops = append(ops, cfs.Mkdir(o.dir))
	case err != nil:
		return err
	}
	for _, e := range entries {
		var r oneShotRecord
		if json.Unmarshal(e.Data, &r) == nil && now.Sub(r.Created) <= o.ttl {
			continue
		}
		ops = append(ops, cfs.Delete(e.Path).If(cfs.Cond{Version: e.Version}))
		if len(ops) >= oneShotMaxPruned {
			break
		}
	}
	ops = append(ops, cfs.Write(o.path(key), rec).If(cfs.Cond{MustNotExist: true}))
	_, err = o.store.Apply(ctx, ops...)
	return err
}

// take returns the record's data and deletes it; ok is false when it is
// missing, expired, or was taken concurrently on another node (the
// delete at the version read lets only one taker win).
func (o oneShot) take(key string, now time.Time) (data []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := o.store.Get(o.path(key))
	if errors.Is(err, cfs.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := o.store.Apply(ctx, cfs.Delete(e.Path).If(cfs.Cond{Version: e.Version})); err != nil {
		if errors.Is(err, cfs.ErrConflict) || errors.Is(err, cfs.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var r oneShotRecord
	if err := json.Unmarshal(e.Data, &r); err != nil || now.Sub(r.Created) > o.ttl {
		return nil, false, nil
	}
	return r.Data, true, nil
}

func isNotFound(err error) bool { return errors.Is(err, cfs.ErrNotFound) }
