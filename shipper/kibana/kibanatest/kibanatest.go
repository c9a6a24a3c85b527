// Package kibanatest replays recorded Kibana conversations for tests: a
// folder holds exchanges.json (the requests expected, in order, and the
// answer to each) and the answer bodies; Serve starts an HTTP server that
// checks every request against the recording and answers with it.
package kibanatest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Exchange is one recorded request and its answer.
type Exchange struct {
	Method string `json:"method"`
	// Path is the request path with its query, e.g.
	// "/s/sec/api/saved_objects/_import?overwrite=true".
	Path string `json:"path"`
	// Status and Body (a file of the folder) are the answer.
	Status      int    `json:"status"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

// Recording is a folder's exchanges.json.
type Recording struct {
	// Source says where the answers' shapes come from.
	Source    string     `json:"source"`
	Kibana    string     `json:"kibana"`
	Exchanges []Exchange `json:"exchanges"`
}

// Request is what the server received.
type Request struct {
	Method, Path string
	Header       http.Header
	// File is the multipart "file" part of an import, FileName its name.
	File     []byte
	FileName string
}

// Server replays a recording.
type Server struct {
	URL string
	dir string
	rec Recording
	mu  sync.Mutex
	got []Request
	err []string
}

// Serve starts a server replaying dir/exchanges.json; it is closed, and
// every recorded exchange must have been used, when t ends.
func Serve(t testing.TB, dir string) *Server {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "exchanges.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{dir: dir}
	if err := json.Unmarshal(b, &s.rec); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = hs.URL
	t.Cleanup(func() {
		hs.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.err {
			t.Errorf("%s: %s", dir, e)
		}
		if len(s.got) != len(s.rec.Exchanges) {
			t.Errorf("%s: %d requests, the recording has %d", dir, len(s.got), len(s.rec.Exchanges))
		}
	})
	return s
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.got...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone()}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FormName() == "file" {
				req.File, _ = io.ReadAll(p)
				req.FileName = p.FileName()
			} else {
				s.err = append(s.err, fmt.Sprintf("unexpected multipart part %q", p.FormName()))
			}
		}
	}
	n := len(s.got)
	s.got = append(s.got, req)
	if n >= len(s.rec.Exchanges) {
		s.err = append(s.err, fmt.Sprintf("request %d %s %s beyond the recording", n+1, r.Method, req.Path))
		http.Error(w, "not recorded", http.StatusTeapot)
		return
	}
	e := s.rec.Exchanges[n]
	if e.Method != r.Method || e.Path != req.Path {
		s.err = append(s.err, fmt.Sprintf("request %d is %s %s, the recording has %s %s", n+1, r.Method, req.Path, e.Method, e.Path))
	}
	if r.Header.Get("kbn-xsrf") == "" {
		s.err = append(s.err, fmt.Sprintf("request %d %s without kbn-xsrf", n+1, req.Path))
	}
	if strings.HasSuffix(strings.SplitN(e.Path, "?", 2)[0], "/_import") && (req.File == nil || !strings.HasSuffix(req.FileName, ".ndjson")) {
		s.err = append(s.err, fmt.Sprintf("request %d: an import without a multipart file part named *.ndjson (got %q)", n+1, req.FileName))
	}
	var body []byte
	if e.Body != "" {
		var err error
		body, err = os.ReadFile(filepath.Join(s.dir, e.Body))
		if err != nil {
			s.err = append(s.err, err.Error())
		}
	}
	ct := e.ContentType
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
