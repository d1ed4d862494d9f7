package storage

import (
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/runner"
)

// Files arriving from outside: uploads, downloads, and volume copies.

var unsafeNameChar = regexp.MustCompile(`[^A-Za-z0-9_.+-]`)

// FileName checks and cleans the name of an uploaded or downloaded file
// of content c: characters other than letters, digits and _ . + - become
// _ (as Proxmox VE does with uploads), and the name must carry an
// extension the content type allows.
func FileName(name string, c Content) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("%q is not a file name: no paths, only a name", name)
	}
	clean := unsafeNameChar.ReplaceAllString(name, "_")
	if strings.HasPrefix(clean, ".") {
		return "", fmt.Errorf("%q: names must not start with a dot", name)
	}
	if _, err := ParseFileVolname(FileVolname(Vol{Content: c, Name: clean})); err != nil {
		return "", fmt.Errorf("%q is not a valid name for %s content: %s", name, c, allowedExtensions[c])
	}
	return clean, nil
}

var allowedExtensions = map[Content]string{
	ISO:    "ISO images end in .iso or .img",
	VZTmpl: "container templates end in .tar.gz, .tar.xz, .tar.zst, .tar.bz2 or .tgz",
	Import: "import sources end in .ova, .ovf, .qcow2, .raw or .vmdk",
}

func newHash(algo string) (hash.Hash, error) {
	switch algo {
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha224":
		return sha256.New224(), nil
	case "sha256":
		return sha256.New(), nil
	case "sha384":
		return sha512.New384(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unknown checksum algorithm %q", algo)
}

// incoming is a file about to be written into a storage's content
// directory.
type incoming struct {
	storage  string
	dir      string
	name     string
	checksum string
	hash     hash.Hash
}

// prepareIncoming checks everything that can be checked before the data
// flows: the storage holds the content, keeps it as files, the name is
// valid and free, and the checksum parameters are complete.
func (s *Service) prepareIncoming(ctx context.Context, storageID, content, filename, checksum, algo string) (*incoming, Storage, error) {
	cfg, st, err := s.Open(ctx, storageID)
	if err != nil {
		return nil, nil, err
	}
	c := Content(content)
	if !cfg.Holds(c) {
		return nil, nil, api.ParamError("content", "storage '%s' does not hold %s (it holds %s)", storageID, c, ContentList(cfg.Content))
	}
	fst, ok := st.(FileStore)
	if !ok {
		return nil, nil, api.Errorf(http.StatusBadRequest, "storage '%s' (%s) keeps no files", storageID, cfg.Type)
	}
	dir, err := fst.ContentDir(c)
	if err != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "storage '%s': %v", storageID, err)
	}
	name, err := FileName(filename, c)
	if err != nil {
		return nil, nil, api.ParamError("filename", "%v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return nil, nil, api.ParamError("filename", "%s/%s already exists on storage '%s'", c, name, storageID)
	}
	in := &incoming{storage: storageID, dir: dir, name: name, checksum: strings.ToLower(strings.TrimSpace(checksum))}
	switch {
	case checksum != "" && algo == "":
		return nil, nil, api.ParamError("checksum-algorithm", "required with checksum")
	case checksum == "" && algo != "":
		return nil, nil, api.ParamError("checksum", "required with checksum-algorithm")
	case algo != "":
		if in.hash, err = newHash(algo); err != nil {
			return nil, nil, api.ParamError("checksum-algorithm", "%v", err)
		}
	}
	return in, st, nil
}

// progressWriter reports how much has been written, at most every few
// seconds, in the task log.
type progressWriter struct {
	log   api.TaskLog
	total int64
	done  int64
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if time.Since(p.last) >= 2*time.Second {
		p.last = time.Now()
		p.log.Progress(p.done, p.total)
		if p.total > 0 {
			p.log.Printf("%d of %d MiB (%d%%)", p.done>>20, p.total>>20, p.done*100/p.total)
		} else {
			p.log.Printf("%d MiB", p.done>>20)
		}
	}
	return len(b), nil
}

// verifier returns the check of a checksum over what passed through the
// returned reader, or src unchanged and no check.
func (in *incoming) verifier(src io.Reader, log api.TaskLog) (io.Reader, func() error) {
	if in.hash == nil {
		return src, nil
	}
	return io.TeeReader(src, in.hash), func() error {
		got := hex.EncodeToString(in.hash.Sum(nil))
		if got != in.checksum {
			return fmt.Errorf("checksum mismatch: got %s, expected %s; the file was removed", got, in.checksum)
		}
		log.Printf("checksum verified: %s", got)
		return nil
	}
}

// receive writes src into the content directory under a temporary name,
// runs verify (the checksum), then gives the file its name without ever
// replacing an existing one. On any failure nothing is left behind.
func (in *incoming) receive(ctx context.Context, src io.Reader, total int64, log api.TaskLog, verify func() error) (err error) {
	if err := os.MkdirAll(in.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(in.dir, ".incoming-*.part")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	start := time.Now()
	n, err := io.Copy(io.MultiWriter(tmp, &progressWriter{log: log, total: total, last: start}), readerCtx{ctx, src})
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("storage '%s' is full after %d bytes; the partial file was removed", in.storage, n)
		}
		return fmt.Errorf("receiving %s: %w", in.name, err)
	}
	if err := tmp.Sync(); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("storage '%s' is full; the partial file was removed", in.storage)
		}
		return fmt.Errorf("writing %s: %w", in.name, err)
	}
	elapsed := time.Since(start)
	log.Progress(n, n)
	log.Printf("received %d bytes in %.1f s (%.1f MiB/s)", n, elapsed.Seconds(), float64(n)/(1<<20)/max(elapsed.Seconds(), 0.001))
	if verify != nil {
		if err := verify(); err != nil {
			return err
		}
	}
	target := filepath.Join(in.dir, in.name)
	// A hard link never replaces an existing file, unlike a rename.
	if err := os.Link(tmp.Name(), target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			return fmt.Errorf("%s appeared on storage '%s' meanwhile; nothing was replaced", in.name, in.storage)
		}
		if err := os.Rename(tmp.Name(), target); err != nil {
			return err
		}
	}
	os.Chmod(target, 0o644)
	log.Printf("saved as %s", target)
	return nil
}

// readerCtx stops a copy when the task is stopped.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (s *Service) upload(ctx context.Context, c *api.Call, in *api.UploadParams) (api.Task, error) {
	inc, st, err := s.prepareIncoming(ctx, in.Storage, in.Content, in.Filename, in.Checksum, in.ChecksumAlgorithm)
	if err != nil {
		return api.Task{}, err
	}
	var src io.ReadCloser
	size := int64(-1)
	switch {
	case c.Upload != nil:
		src, size = c.Upload, c.Upload.Size
	case in.TmpFilename != "":
		if c.User != api.RootUser {
			return api.Task{}, &api.Denied{Path: "/", Priv: "root@pam only"}
		}
		f, err := os.Open(in.TmpFilename)
		if err != nil {
			return api.Task{}, api.ParamError("tmpfilename", "%v", err)
		}
		fi, _ := f.Stat()
		src, size = f, fi.Size()
	default:
		return api.Task{}, api.ParamError("filename", "send the file as multipart/form-data in the field 'filename'")
	}
	if size > 0 {
		if stat, err := st.Status(ctx); err == nil && stat.Active && size > stat.Avail {
			src.Close()
			return api.Task{}, api.Errorf(http.StatusBadRequest, "the upload (%d bytes) does not fit on storage '%s' (%d bytes free)", size, in.Storage, stat.Avail)
		}
	}
	return api.Task{Type: "imgcopy", Run: func(ctx context.Context, log api.TaskLog) error {
		defer src.Close()
		log.Printf("receiving %s into storage '%s' (%s)", inc.name, in.Storage, in.Content)
		r, verify := inc.verifier(src, log)
		err := inc.receive(ctx, r, size, log, verify)
		if err == nil && in.TmpFilename != "" {
			os.Remove(in.TmpFilename)
		}
		return err
	}}, nil
}

func (s *Service) downloadURL(ctx context.Context, c *api.Call, in *api.DownloadParams) (api.Task, error) {
	name := in.Filename
	inc, _, err := s.prepareIncoming(ctx, in.Storage, in.Content, name, in.Checksum, in.ChecksumAlgorithm)
	if err != nil {
		return api.Task{}, err
	}
	if in.Compression != "" && in.Content != string(ISO) {
		return api.Task{}, api.ParamError("compression", "only ISO images are decompressed on download")
	}
	client := s.o.HTTPClient
	if !in.VerifyCertificates {
		cl := *client
		tr, _ := http.DefaultTransport.(*http.Transport)
		if t, ok := cl.Transport.(*http.Transport); ok {
			tr = t
		}
		tr = tr.Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		cl.Transport = tr
		client = &cl
	}
	return api.Task{Type: "download", ID: in.Storage, Run: func(ctx context.Context, log api.TaskLog) error {
		log.Printf("downloading %s to storage '%s' as %s", in.URL, in.Storage, inc.name)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("download failed: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("download failed: the server answered %s", resp.Status)
		}
		// The checksum is of what the server sends, before decompression.
		body, verify := inc.verifier(resp.Body, log)
		total := resp.ContentLength
		if in.Compression != "" {
			if body, err = s.decompress(ctx, in.Compression, body); err != nil {
				return err
			}
			if c, ok := body.(io.Closer); ok {
				defer c.Close() // a failed write must not leave the tool blocked
			}
			total = -1
		}
		return inc.receive(ctx, body, total, log, verify)
	}}, nil
}

// decompress turns a compressed stream (a download, a backup archive)
// into its content.
func (s *Service) decompress(ctx context.Context, algo string, r io.Reader) (io.Reader, error) {
	switch algo {
	case "gz":
		return gzip.NewReader(r)
	case "bz2":
		return bzip2.NewReader(r), nil
	}
	tool := map[string]string{"zst": "zstd", "lzo": "lzop", "xz": "xz"}[algo]
	if tool == "" {
		return nil, fmt.Errorf("unknown compression %q", algo)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := s.o.Env.Runner.Run(ctx, runner.Cmd{Name: tool, Args: []string{"-dc"}, Stdin: r, Stdout: pw})
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// BlockdevJSON renders a QEMU protocol node as the json: pseudo file name
// qemu-img and QEMU accept.
func BlockdevJSON(b map[string]any) string {
	data, _ := json.Marshal(b)
	return "json:" + string(data)
}
