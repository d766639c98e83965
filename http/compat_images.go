package http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

func (s *Server) handleCompatUpload(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	f, err := readUploadForm(w, r, s.Images.MaxBytesLimit())
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	if _, err := s.Images.Put(r.Context(), u.ID, f.Key, f.Data); err != nil {
		s.compatError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": "true", "key": f.Key})
}

func (s *Server) handleCompatListKeys(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	keys := []string{}
	after := ""
	for {
		page, err := s.Images.List(r.Context(), u.ID, "", after, 1000)
		if err != nil {
			s.compatError(w, r, err)
			return
		}
		for _, img := range page {
			keys = append(keys, img.Key)
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Key
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": "true", "keys": keys})
}

func (s *Server) handleCompatKey(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := pathKey(r)
	_, data, err := s.Images.Get(r.Context(), u.ID, key)
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	writeCompatContent(w, key, data)
}

// compatBufs holds the buffers of writeCompatContent, which are of an
// image's size and a third: reused, they spare the collector.
var compatBufs sync.Pool

// writeCompatContent writes what writeJSON would of
// {"success":"true","key":key,"content":base64(data)}, byte for byte, but
// in one buffer: the base64 text is not made as a string and then copied
// by the JSON encoder, and the length is known, so it goes out without
// chunking.
func writeCompatContent(w http.ResponseWriter, key string, data []byte) {
	var kb bytes.Buffer
	enc := json.NewEncoder(&kb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(key) // a string always encodes
	k := bytes.TrimSuffix(kb.Bytes(), []byte("\n"))
	const head, mid, tail = `{"content":"`, `","key":`, `,"success":"true"}` + "\n"
	size := len(head) + base64.StdEncoding.EncodedLen(len(data)) + len(mid) + len(k) + len(tail)
	bp, _ := compatBufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		b := make([]byte, 0, size)
		bp = &b
	}
	buf := append((*bp)[:0], head...)
	buf = base64.StdEncoding.AppendEncode(buf, data)
	buf = append(buf, mid...)
	buf = append(buf, k...)
	buf = append(buf, tail...)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	*bp = buf
	compatBufs.Put(bp)
}

// handleCompatDeleteAll removes every image of every user when called by
// an admin (as the course's tester expects of its single-user system), and
// only the caller's own images otherwise. A credential-less call acts as
// an admin only under CompatAdmin (compatUser). Its contract is that the
// images (blobs and metadata) are gone, so it bypasses the trash, and
// empties it, and keeps its exact answer {"success":"true"}.
func (s *Server) handleCompatDeleteAll(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	var err error
	if u.Admin {
		_, _, err = s.Images.DeleteAll(r.Context())
	} else {
		_, err = s.Images.DeleteOwned(r.Context(), u.ID)
	}
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": "true"})
}
