package rest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// isMultipart reports whether the request carries multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// headReader records what is read from the body until stopped, so that a
// request whose form fields were read here can still be forwarded byte
// for byte: the recorded head, then the rest of the body.
type headReader struct {
	r    io.Reader
	head bytes.Buffer
	stop bool
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if !h.stop {
		h.head.Write(p[:n])
	}
	return n, err
}

// readUpload reads the form fields of a multipart request up to the part
// carrying the file, which it leaves unread for the handler: a file of
// gigabytes never sits in memory. Fields after the file are not seen, so
// clients send the file last (browsers and Proxmox VE clients do). The
// fields before it are bounded by maxBody like any request body.
func readUpload(r *http.Request, field string, maxBody int64) (*rawRequest, *api.Upload, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return nil, nil, api.Errorf(http.StatusNotImplemented, "%s requests cannot carry an upload", r.Method)
	}
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if params["boundary"] == "" {
		return nil, nil, api.Errorf(http.StatusBadRequest, "multipart/form-data without a boundary")
	}
	hr := &headReader{r: r.Body}
	mr := multipart.NewReader(hr, params["boundary"])
	out := &rawRequest{params: schema.Raw{}}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed,
				Errors: map[string]string{field: "the request has no file part named '" + field + "'"}}
		}
		if err != nil {
			return nil, nil, api.Errorf(http.StatusBadRequest, "malformed multipart body: %v", err)
		}
		if int64(hr.head.Len()) > maxBody {
			return nil, nil, api.Errorf(http.StatusRequestEntityTooLarge, "the form fields before the file are larger than the limit of %d bytes", maxBody)
		}
		name := part.FormName()
		if part.FileName() != "" {
			if name != field {
				return nil, nil, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed,
					Errors: map[string]string{name: "files are accepted only in the form field '" + field + "'"}}
			}
			if _, given := out.params[field]; given {
				return nil, nil, &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed,
					Errors: map[string]string{field: "given as a field and again as the file's name"}}
			}
			out.params[field] = []string{part.FileName()}
			hr.stop = true
			out.body = hr.head.Bytes()
			out.rest = r.Body
			return out, api.NewUpload(part.FileName(), r.ContentLength, part), nil
		}
		value, err := io.ReadAll(io.LimitReader(part, maxBody+1))
		if err != nil {
			return nil, nil, api.Errorf(http.StatusBadRequest, "reading form field %q: %v", name, err)
		}
		if int64(len(value)) > maxBody {
			return nil, nil, api.Errorf(http.StatusRequestEntityTooLarge, "form field %q is larger than the limit of %d bytes", name, maxBody)
		}
		if name == "" || name == "_dc" {
			continue
		}
		out.params[name] = append(out.params[name], strings.TrimSuffix(string(value), "\r\n"))
	}
}
