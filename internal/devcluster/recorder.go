package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Bounds of the recorder: what it keeps in memory and reads of one body.
const (
	recorderKeep    = 200
	recorderMaxBody = 1 << 20
)

// Post is one request the Recorder received.
type Post struct {
	Path string          `json:"path"`
	At   time.Time       `json:"at"`
	Body json.RawMessage `json:"body"`
}

// Recorder is a local HTTP receiver on loopback that answers 200 to every POST and
// keeps the bodies (the newest recorderKeep, and one JSON line each in a file):
// Alertmanager's copy of each notification (RecorderAlertmanagerPath) and the
// alert-opened Incidents' notifications (RecorderNotifyPath), so the demo and the
// e2e show what was really sent.
type Recorder struct {
	// URL is http://127.0.0.1:PORT.
	URL string

	srv   *http.Server
	mu    sync.Mutex
	posts []Post
	log   *os.File
	added chan struct{} // closed and replaced on every post
}

// StartRecorder serves on a free loopback port, appending each post to logPath.
func StartRecorder(logPath string) (*Recorder, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	r := &Recorder{URL: "http://" + ln.Addr().String(), log: f, added: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// ServeHTTP records a POST whose body is JSON.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, recorderMaxBody))
	if err != nil || !json.Valid(body) {
		http.Error(w, "a JSON body of at most 1 MiB", http.StatusBadRequest)
		return
	}
	p := Post{Path: req.URL.Path, At: time.Now().UTC(), Body: body}
	line, _ := json.Marshal(p)
	r.mu.Lock()
	r.posts = append(r.posts, p)
	if len(r.posts) > recorderKeep {
		r.posts = r.posts[len(r.posts)-recorderKeep:]
	}
	_, _ = r.log.Write(append(line, '\n'))
	close(r.added)
	r.added = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Posts returns the kept posts to path, oldest first.
func (r *Recorder) Posts(path string) []Post {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Post
	for _, p := range r.posts {
		if p.Path == path {
			out = append(out, p)
		}
	}
	return out
}

// Wait returns the first kept post to path for which match is true, waiting for new
// posts until ctx ends.
func (r *Recorder) Wait(ctx context.Context, path string, match func(Post) bool) (Post, error) {
	for {
		r.mu.Lock()
		added := r.added
		r.mu.Unlock()
		for _, p := range r.Posts(path) {
			if match(p) {
				return p, nil
			}
		}
		select {
		case <-added:
		case <-ctx.Done():
			return Post{}, ctx.Err()
		}
	}
}

// Close stops serving.
func (r *Recorder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(r.srv.Shutdown(ctx), r.log.Close())
}
