package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/pki"
)

// Client calls the API. apiPath is below /api2/json, with concrete
// segments (no {param}); params travel as the query string of GET and
// DELETE and as a form body of POST and PUT.
type Client interface {
	Do(ctx context.Context, method, apiPath string, params schema.Raw) (*Result, error)
}

// Result is a successful answer.
type Result struct {
	Status int
	// Reason is the status line's reason phrase.
	Reason string
	Data   json.RawMessage
	// Total is the "total" next to the data of paged lists, or nil.
	Total *int64
}

// Error is an error answer of the API (or a local parameter check that
// failed the same way).
type Error struct {
	Status  int
	Message string
	// Errors maps parameter names to what is wrong with them.
	Errors map[string]string
}

// Error prints the error as PVE's tools do: the status before the message
// (except for plain 500 failures, which PVE prints bare), then one
// "param: reason" line per parameter, sorted.
func (e *Error) Error() string {
	var b strings.Builder
	msg := strings.TrimRight(e.Message, "\n")
	if e.Status != 0 && e.Status != http.StatusInternalServerError {
		fmt.Fprintf(&b, "%d %s", e.Status, msg)
	} else {
		b.WriteString(msg)
	}
	names := make([]string, 0, len(e.Errors))
	for n := range e.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "\n%s: %s", n, e.Errors[n])
	}
	return b.String()
}

// Default daemon socket and HTTPS port.
const (
	DefaultSocket = "/var/lib/hearth/hearth.sock"
	DefaultPort   = "8006"
)

// maxResponse bounds what the CLI reads of one answer.
const maxResponse = 256 << 20

// httpClient talks HTTP to the daemon, over the unix socket or HTTPS.
type httpClient struct {
	base string // scheme and authority, such as https://pve1:8006
	hc   *http.Client
	// authenticate adds credentials to a request; nil on the root socket.
	authenticate func(r *http.Request)
}

func newTransport() *http.Transport {
	return &http.Transport{
		// HTTP/1.1 only: the API's error messages travel in the reason
		// phrase, which HTTP/2 does not have.
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
}

// NewSocketClient returns a client for the daemon's local unix socket,
// where every request counts as root@pam.
func NewSocketClient(path string) Client {
	tr := newTransport()
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return &httpClient{base: "http://localhost", hc: &http.Client{Transport: tr}}
}

// TLSOptions says how to trust the server's certificate.
type TLSOptions struct {
	// Fingerprint pins the SHA-256 fingerprint of the server certificate
	// (hex, colons optional); the certificate chain is then not checked,
	// as with PVE's self-signed node certificates.
	Fingerprint string
	// CAFile is a PEM file of trusted CAs; empty means the system roots.
	CAFile string
}

// RemoteAuth is how to log in to a remote node: an API token, or a user
// and password (exchanged for a ticket at the first call).
type RemoteAuth struct {
	Token    string // user@realm!name=secret
	User     string
	Password string
}

// NewRemoteClient returns a client for https://host:port. With a user and
// password it logs in at once, so that a wrong password fails early.
func NewRemoteClient(ctx context.Context, host, port string, topts TLSOptions, auth RemoteAuth) (Client, error) {
	conf, err := tlsConfig(topts)
	if err != nil {
		return nil, err
	}
	tr := newTransport()
	tr.TLSClientConfig = conf
	if port == "" {
		port = DefaultPort
	}
	c := &httpClient{base: "https://" + net.JoinHostPort(host, port), hc: &http.Client{Transport: tr}}
	switch {
	case auth.Token != "":
		if !strings.Contains(auth.Token, "!") || !strings.Contains(auth.Token, "=") {
			return nil, errors.New("malformed API token: expected user@realm!name=secret")
		}
		header := "PVEAPIToken=" + auth.Token
		c.authenticate = func(r *http.Request) { r.Header.Set("Authorization", header) }
	case auth.User != "":
		if err := c.login(ctx, auth.User, auth.Password); err != nil {
			tr.CloseIdleConnections()
			return nil, err
		}
	default:
		return nil, errors.New("no credentials: give --token, or --user with a password")
	}
	return c, nil
}

func (c *httpClient) login(ctx context.Context, user, password string) error {
	params := schema.Raw{}
	params.Set("username", user)
	params.Set("password", password)
	res, err := c.Do(ctx, http.MethodPost, "/access/ticket", params)
	if err != nil {
		return fmt.Errorf("login as %s: %w", user, err)
	}
	var t struct {
		Ticket string `json:"ticket"`
		CSRF   string `json:"CSRFPreventionToken"`
	}
	if err := json.Unmarshal(res.Data, &t); err != nil || t.Ticket == "" {
		return fmt.Errorf("login as %s: the answer has no ticket", user)
	}
	if !cookieSafe(t.Ticket) {
		return fmt.Errorf("login as %s: the ticket contains characters a cookie cannot carry", user)
	}
	c.authenticate = func(r *http.Request) {
		// A raw Cookie header: net/http's cookie writer would quote or drop
		// the ticket's ':' and '=' characters.
		r.Header.Set("Cookie", "PVEAuthCookie="+t.Ticket)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Header.Set("CSRFPreventionToken", t.CSRF)
		}
	}
	return nil
}

func cookieSafe(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == ';' || c == '"' || c == ',' || c == '\\' {
			return false
		}
	}
	return true
}

func tlsConfig(o TLSOptions) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if o.Fingerprint != "" {
		want, err := parseFingerprint(o.Fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces chain verification: node certificates are
		// issued by the cluster's own CA, which the client need not know.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("server certificate fingerprint %s does not match the pinned %s",
					pki.FormatFingerprint(got[:]), pki.FormatFingerprint(want))
			}
			return nil
		}
		return conf, nil
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func parseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimPrefix(strings.ToLower(s), "sha256:"))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("malformed fingerprint %q: expected 32 hex bytes such as AB:CD:…", s)
	}
	return b, nil
}

// escapePath escapes each segment, so task ids keep their ':' '@' '!'
// inside one segment. A segment that is already escaped (a volume id's
// slash as %2F, put there by fillPath) is not escaped twice.
func escapePath(p string) string {
	segs := splitPath(p)
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		segs[i] = url.PathEscape(s)
	}
	return "/" + strings.Join(segs, "/")
}

// Do sends one request.
func (c *httpClient) Do(ctx context.Context, method, apiPath string, params schema.Raw) (*Result, error) {
	u := c.base + "/api2/json" + escapePath(apiPath)
	var body io.Reader
	form := url.Values(params).Encode()
	switch method {
	case http.MethodGet, http.MethodDelete, http.MethodHead:
		if form != "" {
			u += "?" + form
		}
	default:
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, apiPath, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.send(req, method, apiPath)
}

// Uploader sends a local file with a call, as multipart/form-data.
type Uploader interface {
	Upload(ctx context.Context, method, apiPath string, params schema.Raw, field, file string) (*Result, error)
}

// Upload sends params as form fields and then the file in the form field
// named field, streamed from disk. The request's length is computed
// beforehand, so the server can refuse a file that does not fit before
// it arrives.
func (c *httpClient) Upload(ctx context.Context, method, apiPath string, params schema.Raw, field, file string) (*Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head, tail bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if k == field {
			continue
		}
		for _, v := range params[k] {
			mw.WriteField(k, v)
		}
	}
	if _, err := mw.CreateFormFile(field, filepath.Base(file)); err != nil {
		return nil, err
	}
	boundary := mw.Boundary()
	tw := multipart.NewWriter(&tail)
	tw.SetBoundary(boundary)
	tw.Close()
	// The closing boundary starts on a line of its own after the file.
	tailBytes := append([]byte("\r\n"), bytes.TrimPrefix(tail.Bytes(), []byte("\r\n"))...)
	body := io.MultiReader(&head, f, bytes.NewReader(tailBytes))
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api2/json"+escapePath(apiPath), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, apiPath, err)
	}
	req.ContentLength = int64(head.Len()) + fi.Size() + int64(len(tailBytes))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req, method, apiPath)
}

// send authenticates and sends a request and reads the answer.
func (c *httpClient) send(req *http.Request, method, apiPath string) (*Result, error) {
	if c.authenticate != nil {
		c.authenticate(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error repeats the URL, whose query may hold parameter
		// values; say which call failed without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			return nil, fmt.Errorf("%s %s: %w (pin the node's certificate with --fingerprint or trust its CA with --ca-file)", method, apiPath, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, apiPath, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, apiPath, err)
	}
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	var env struct {
		Data    json.RawMessage   `json:"data"`
		Total   *int64            `json:"total"`
		Message string            `json:"message"`
		Errors  map[string]string `json:"errors"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &env); err != nil && resp.StatusCode == http.StatusOK {
			return nil, fmt.Errorf("%s %s: the answer is not JSON: %w", method, apiPath, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		msg := env.Message
		if msg == "" {
			msg = reason
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, &Error{Status: resp.StatusCode, Message: strings.TrimRight(msg, "\n"), Errors: env.Errors}
	}
	if len(env.Data) == 0 {
		env.Data = json.RawMessage("null")
	}
	return &Result{Status: resp.StatusCode, Reason: reason, Data: env.Data, Total: env.Total}, nil
}

// Close drops idle connections.
func (c *httpClient) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}
