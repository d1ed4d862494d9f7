package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// request parameters as they arrive, before schema validation.
type rawRequest struct {
	params schema.Raw
	body   []byte // the body as read, kept for forwarding
	// rest is the unread remainder of the body after body, for uploads,
	// whose file is streamed rather than read here.
	rest io.Reader
}

// readParams merges the query string and the body. The body is JSON when
// the Content-Type says so and form-encoded otherwise, including when there
// is no Content-Type at all (one real client logs in that way). The query
// wins over the body on conflict; `_dc` (a cache buster) is dropped.
func readParams(r *http.Request, maxBody int64) (*rawRequest, error) {
	out := &rawRequest{params: schema.Raw{}}
	hasBody := r.ContentLength > 0 || (r.ContentLength < 0 && len(r.TransferEncoding) > 0)
	if hasBody {
		switch r.Method {
		case http.MethodGet, http.MethodDelete, http.MethodHead:
			return nil, api.Errorf(http.StatusNotImplemented, "%s requests must not have a body; pass parameters in the query string", r.Method)
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "reading the request body: %v", err)
		}
		if int64(len(body)) > maxBody {
			return nil, api.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than the limit of %d bytes", maxBody)
		}
		out.body = body
		if err := decodeBody(r.Header.Get("Content-Type"), body, out.params); err != nil {
			return nil, err
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, api.Errorf(http.StatusBadRequest, "malformed query string: %v", err)
	}
	for k, v := range query {
		out.params[k] = v
	}
	delete(out.params, "_dc")
	return out, nil
}

func decodeBody(contentType string, body []byte, into schema.Raw) error {
	mt := ""
	if contentType != "" {
		var err error
		mt, _, err = mime.ParseMediaType(contentType)
		if err != nil {
			return api.Errorf(http.StatusBadRequest, "malformed Content-Type %q", contentType)
		}
	}
	switch mt {
	case "", "application/x-www-form-urlencoded", "text/plain":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return api.Errorf(http.StatusBadRequest, "malformed form body: %v", err)
		}
		for k, v := range vals {
			into[k] = v
		}
		return nil
	case "application/json":
		return decodeJSONBody(body, into)
	}
	return api.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q; send application/json or application/x-www-form-urlencoded", mt)
}

// decodeJSONBody flattens a JSON object into raw string parameters, so that
// one validation path serves JSON, forms and the command line. Numbers keep
// their literal text, booleans become 1/0, null means absent.
func decodeJSONBody(body []byte, into schema.Raw) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return api.Errorf(http.StatusBadRequest, "request body is not a JSON object: %v", err)
	}
	if dec.More() {
		return api.Errorf(http.StatusBadRequest, "request body has data after the JSON object")
	}
	errs := map[string]string{}
	for k, v := range obj {
		if v == nil {
			continue
		}
		if arr, ok := v.([]any); ok {
			items := make([]string, 0, len(arr))
			for _, it := range arr {
				s, err := jsonScalar(it)
				if err != nil {
					errs[k] = err.Error()
					break
				}
				items = append(items, s)
			}
			into[k] = items
			continue
		}
		s, err := jsonScalar(v)
		if err != nil {
			errs[k] = err.Error()
			continue
		}
		into[k] = []string{s}
	}
	if len(errs) > 0 {
		return &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs}
	}
	return nil
}

func jsonScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.Itoa(boolInt(x)), nil
	}
	return "", errors.New("expected a string, number or boolean")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mergePathParams adds path parameters; giving one again in the query or
// body is refused, since it is ambiguous which the caller meant.
func mergePathParams(raw schema.Raw, path map[string]string) error {
	errs := map[string]string{}
	for k, v := range path {
		if _, dup := raw[k]; dup {
			errs[k] = "given in the path and again as a parameter"
			continue
		}
		raw[k] = []string{v}
	}
	if len(errs) > 0 {
		return &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: errs}
	}
	return nil
}
