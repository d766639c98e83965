package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// Reading request bodies, each bounded: a raw upload (readBody), a
// multipart upload (readUploadForm), a small urlencoded form (readForm) and
// a JSON body (decodeJSON). An upload or form over its limit is
// ETOOLARGE and closes the connection (tooLarge); one cut off or stalled
// is errInterrupted.

// maxFieldBytes bounds a non-file form field such as the key.
const maxFieldBytes = 4 << 10

// drainBytes is how far over the limit a declared upload is still read
// (and dropped) before the answer: see readBody.
const drainBytes = 4 << 20

// readBody reads a raw request body of at most limit bytes; more is
// ETOOLARGE. A body declared at most drainBytes over the limit is read and
// dropped first, so that the client, still sending it, gets the answer:
// closing the connection on unread data resets it, and the reset can
// discard the answer before the client reads it ("connection reset by
// peer" instead of 413). A larger one is answered without reading the
// rest.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		if r.ContentLength <= limit+drainBytes {
			if _, err := io.Copy(io.Discard, r.Body); err == nil {
				return nil, service.TooLarge(limit)
			}
		}
		return nil, tooLarge(w, limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(w, limit)
	}
	if err != nil {
		return nil, errInterrupted
	}
	return data, nil
}

// uploadForm is a parsed multipart upload.
type uploadForm struct {
	Key      string
	Data     []byte
	Filename string
	Fields   map[string]string // other small fields, such as csrf
}

// readUploadForm streams a multipart form with a "key" field and a "file"
// part, holding at most limit bytes of the file in memory. Parts may come
// in any order.
func readUploadForm(w http.ResponseWriter, r *http.Request, limit int64) (*uploadForm, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, pixpool.Errorf(pixpool.EINVALID, "Send the upload as multipart/form-data with fields \"key\" and \"file\".")
	}
	// The whole body: the file plus room for the other fields and headers.
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The form is malformed: %v.", err)
	}
	f := &uploadForm{Fields: map[string]string{}}
	gotFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formErr(w, err, limit)
		}
		name := p.FormName()
		switch {
		case name == "file" || (p.FileName() != "" && !gotFile):
			if gotFile {
				return nil, pixpool.Errorf(pixpool.EINVALID, "Send one file per upload.")
			}
			gotFile = true
			f.Filename = p.FileName()
			f.Data, err = io.ReadAll(io.LimitReader(p, limit+1))
			if err != nil {
				return nil, formErr(w, err, limit)
			}
			if int64(len(f.Data)) > limit {
				return nil, tooLarge(w, limit)
			}
		default:
			b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
			if err != nil {
				return nil, formErr(w, err, limit)
			}
			if len(b) > maxFieldBytes {
				return nil, pixpool.Errorf(pixpool.EINVALID, "The form field %q is too long.", name)
			}
			f.Fields[name] = string(b)
		}
	}
	f.Key = f.Fields["key"]
	if _, ok := f.Fields["key"]; !ok {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The form has no \"key\" field.")
	}
	if !gotFile {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The form has no \"file\" field.")
	}
	return f, nil
}

// tooLarge answers an upload over the limit. The rest of the body is not
// read, so the connection closes after the answer rather than being kept
// for another request.
func tooLarge(w http.ResponseWriter, limit int64) error {
	w.Header().Set("Connection", "close")
	return service.TooLarge(limit)
}

func formErr(w http.ResponseWriter, err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(w, limit)
	}
	if strings.Contains(err.Error(), "multipart") {
		return pixpool.Errorf(pixpool.EINVALID, "The form is malformed.")
	}
	return errInterrupted
}

// readForm reads the small urlencoded form of a route that requireUser
// does not guard (it bounds the others), at most 64 KiB. A body that is
// cut off or stalls (limitIdleBodies) is EINVALID, not a form of empty
// fields: its request's context is cancelled by then, and whatever the
// handler did next would fail as an internal error.
func readForm(w http.ResponseWriter, r *http.Request) error {
	const limit = 64 << 10
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseForm()
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return tooLarge(w, limit)
	case r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(net.Error)):
		return errInterrupted
	}
	return pixpool.Errorf(pixpool.EINVALID, "The form is malformed.")
}

// decodeJSON reads a small JSON body into v; an empty body leaves v as is.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return pixpool.Errorf(pixpool.ETOOLARGE, "The JSON body is too large.")
	} else if err != nil {
		return pixpool.Errorf(pixpool.EINVALID, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return pixpool.Errorf(pixpool.EINVALID, "The JSON body is malformed: %v.", err)
	}
	return nil
}
