package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pixpool/pixpool"
)

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }

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
