package api

import (
	"io"
	"sync"
)

// Upload is a file arriving in the body of a request. It is read while
// the request is still open: the server answers only once the upload has
// been read to its end or closed, so a task that receives it streams it
// to disk at the pace of the network, without holding it in memory.
type Upload struct {
	// Name is the file name the client gave.
	Name string
	// Size bounds the file's size: the request's length, which includes
	// the other form fields; -1 when the client did not say.
	Size int64

	r    io.Reader
	once sync.Once
	done chan struct{}
}

// NewUpload wraps the body part holding the file.
func NewUpload(name string, size int64, r io.Reader) *Upload {
	return &Upload{Name: name, Size: size, r: r, done: make(chan struct{})}
}

// Read reads the file; at its end (or on an error) the upload counts as
// finished.
func (u *Upload) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil {
		u.Close()
	}
	return n, err
}

// Close ends the upload: the server may answer and drop the rest of the
// body. It is safe to call more than once.
func (u *Upload) Close() error {
	u.once.Do(func() { close(u.done) })
	return nil
}

// Done is closed when the upload was read to its end or closed.
func (u *Upload) Done() <-chan struct{} { return u.done }
