package cfs

import (
	"encoding/json"
	"errors"
	"fmt"
)

// OpKind says what an Op does.
type OpKind uint8

// Operation kinds. Zero is deliberately invalid so that a forgotten Kind is
// caught instead of silently meaning "write".
const (
	// OpWrite replaces the content of a file, creating it and any missing
	// parent directories.
	OpWrite OpKind = iota + 1
	// OpDelete removes a file or an empty directory.
	OpDelete
	// OpMkdir creates a directory and any missing parents; the directory
	// itself must not exist yet.
	OpMkdir
	// OpRename moves a file or a directory subtree from Path to To.
	OpRename
)

// String returns the name of the kind as written to the raft log. Names
// rather than numbers keep the log readable and independent of the order of
// the constants.
func (k OpKind) String() string {
	switch k {
	case OpWrite:
		return "write"
	case OpDelete:
		return "delete"
	case OpMkdir:
		return "mkdir"
	case OpRename:
		return "rename"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

func opKindByName(name string) (OpKind, bool) {
	for k := OpWrite; k <= OpRename; k++ {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// Cond is a precondition on an Op's Path, checked inside the state machine
// when the transaction is applied, so that it holds against the state the
// write really lands on. The zero Cond checks nothing.
type Cond struct {
	// MustNotExist refuses the operation if Path exists.
	MustNotExist bool
	// Version, if not zero, must equal the Version of the entry at Path.
	Version uint64
	// Digest, if not empty, must equal Digest of the file at Path (case
	// does not matter).
	Digest string
}

// Op is one operation of a transaction. Ops of one Apply see the effects
// of the ops before them and take effect together or not at all.
type Op struct {
	Kind OpKind
	Path string
	To   string // target of OpRename
	Data []byte // content for OpWrite
	Cond Cond
}

// Write returns an op that sets the content of the file at path.
func Write(path string, data []byte) Op { return Op{Kind: OpWrite, Path: path, Data: data} }

// Delete returns an op that removes the file or empty directory at path.
func Delete(path string) Op { return Op{Kind: OpDelete, Path: path} }

// Mkdir returns an op that creates the directory at path.
func Mkdir(path string) Op { return Op{Kind: OpMkdir, Path: path} }

// Rename returns an op that moves from to to.
func Rename(from, to string) Op { return Op{Kind: OpRename, Path: from, To: to} }

// If returns a copy of o with the precondition c.
func (o Op) If(c Cond) Op {
	o.Cond = c
	return o
}

// validate checks what can be checked without the tree. The state machine
// calls it again on every decoded op because the log is input too.
func (o *Op) validate() error {
	switch o.Kind {
	case OpWrite, OpDelete, OpMkdir:
		if o.To != "" {
			return fmt.Errorf("cfs: %s %q: %w: a target is only allowed for rename", o.Kind, o.Path, ErrInvalid)
		}
	case OpRename:
		if err := ValidatePath(o.To); err != nil {
			return err
		}
	default:
		return fmt.Errorf("cfs: %w: unknown operation kind %d on %q", ErrInvalid, uint8(o.Kind), o.Path)
	}
	if o.Kind != OpWrite && len(o.Data) > 0 {
		return fmt.Errorf("cfs: %s %q: %w: data is only allowed for write", o.Kind, o.Path, ErrInvalid)
	}
	return ValidatePath(o.Path)
}

// cmdType is the first byte of every raft log entry this package writes.
type cmdType byte

// Command types. A value is never reused: an old node skips types it does
// not know (see fsm.Apply), which is only safe if a type keeps its meaning
// forever.
const (
	cmdTxn cmdType = 1
)

// txnCmd is the payload of cmdTxn. The proposer fixes everything the
// outcome depends on (time, limits) so that every node computes the same
// tree from the same log, whatever its clock or local configuration says.
type txnCmd struct {
	MTime    int64    `json:"mtime"`
	MaxFile  int64    `json:"max_file"`
	MaxTotal int64    `json:"max_total"`
	Ops      []wireOp `json:"ops"`
}

// wireOp is an Op as stored in the log. It is separate from Op so that the
// public type can change without changing what old logs mean.
type wireOp struct {
	Kind         string `json:"k"`
	Path         string `json:"p"`
	To           string `json:"to,omitempty"`
	Data         []byte `json:"d,omitempty"`
	MustNotExist bool   `json:"mne,omitempty"`
	Version      uint64 `json:"ver,omitempty"`
	Digest       string `json:"dig,omitempty"`
}

func toWire(o Op) wireOp {
	return wireOp{
		Kind: o.Kind.String(), Path: o.Path, To: o.To, Data: o.Data,
		MustNotExist: o.Cond.MustNotExist, Version: o.Cond.Version, Digest: o.Cond.Digest,
	}
}

func (w wireOp) op() (Op, error) {
	k, ok := opKindByName(w.Kind)
	if !ok {
		return Op{}, fmt.Errorf("cfs: %w: unknown operation kind %q on %q", ErrInvalid, w.Kind, w.Path)
	}
	return Op{
		Kind: k, Path: w.Path, To: w.To, Data: w.Data,
		Cond: Cond{MustNotExist: w.MustNotExist, Version: w.Version, Digest: w.Digest},
	}, nil
}

// encodeCommand frames a payload as one type byte followed by JSON.
func encodeCommand(t cmdType, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(t)}, b...), nil
}

func encodeTxn(c *txnCmd) ([]byte, error) { return encodeCommand(cmdTxn, c) }

// errShortCommand is returned for a log entry too short to carry a type.
var errShortCommand = errors.New("cfs: empty command")

// splitCommand returns the type byte and the payload of a log entry.
func splitCommand(b []byte) (cmdType, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShortCommand
	}
	return cmdType(b[0]), b[1:], nil
}

// decodeTxn parses and validates a cmdTxn payload.
func decodeTxn(payload []byte) (*txnCmd, []Op, error) {
	var c txnCmd
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, nil, fmt.Errorf("cfs: malformed transaction: %w", err)
	}
	if len(c.Ops) == 0 {
		return nil, nil, fmt.Errorf("cfs: %w: transaction without operations", ErrInvalid)
	}
	ops := make([]Op, len(c.Ops))
	for i, w := range c.Ops {
		o, err := w.op()
		if err != nil {
			return nil, nil, err
		}
		if err := o.validate(); err != nil {
			return nil, nil, err
		}
		ops[i] = o
	}
	return &c, ops, nil
}
