/*
Copyright 2026 The runbook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package alertreceiver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/clock"
)

// Path is where the receiver answers; Alertmanager's webhook url ends with it.
const Path = "/alertmanager"

// DefaultTokenKey is the Secret key holding the bearer token.
const DefaultTokenKey = "token"

// tokenTTL is how long a token read from the Secret is used before it is read again:
// a rotated token is accepted within this long.
const tokenTTL = 10 * time.Second

// storeTimeout bounds the API calls of one notification; past it the answer is 503
// and Alertmanager retries.
const storeTimeout = 10 * time.Second

// Receiver is the Alertmanager webhook receiver: an http.Handler, and a manager
// Runnable serving it on Addr. It answers 2xx only after the Incident (or its new
// timeline entries) is stored.
type Receiver struct {
	// Addr is the listen address (e.g. `:9443`).
	Addr string
	// Client writes Incidents (create, status update).
	Client client.Client
	// Reader reads Incidents and the token Secret from the API server, uncached (a
	// get of that one Secret; no list or watch of Secrets).
	Reader client.Reader
	// TokenSecret names the Secret holding the bearer token under TokenKey.
	TokenSecret types.NamespacedName
	// TokenKey is the Secret key ("": DefaultTokenKey).
	TokenKey string
	// Options map a notification to an Incident.
	Options Options
	// MaxBodyBytes bounds a body (0: DefaultMaxBodyBytes); larger is 413.
	MaxBodyBytes int64
	// Clock stamps timeline entries (nil: the wall clock).
	Clock clock.Clock
	// Log is the receiver's logger; the token never appears in it.
	Log logr.Logger

	mu      sync.Mutex
	tokHash [sha256.Size]byte
	tokAt   time.Time
}

// NeedLeaderElection is false: every replica answers (names are deterministic, so
// two replicas receiving the same group store one Incident).
func (r *Receiver) NeedLeaderElection() bool { return false }

// Start serves on Addr until ctx ends (manager.Runnable).
func (r *Receiver) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("alert receiver: %w", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		// ctx has ended: the shutdown gets a bounded context of its own.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	r.Log.Info("serving Alertmanager webhook receiver", "address", ln.Addr().String(), "path", Path)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("alert receiver: %w", err)
	}
	return nil
}

// Result is the JSON answer to a stored notification.
type Result struct {
	// Incident is namespace/name of the group's Incident ("" when none was needed).
	Incident string `json:"incident,omitempty"`
	// Created is true when this notification opened it.
	Created bool `json:"created"`
	// Recorded is true when the timeline or conditions changed (false for a repeat).
	Recorded bool `json:"recorded"`
	// Message says what happened.
	Message string `json:"message"`
}

// ServeHTTP authenticates, decodes, and stores one notification.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != Path {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "POST an Alertmanager webhook notification")
		return
	}
	if code, msg := r.authenticate(req); code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="runbook-operator"`)
		}
		answer(w, code, msg)
		return
	}
	max := r.MaxBodyBytes
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	m, err := Decode(http.MaxBytesReader(w, req.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes: set max_alerts in the webhook config", max))
			return
		}
		answer(w, http.StatusBadRequest, err.Error())
		return
	}
	ns, err := Namespace(m, r.Options)
	if err != nil {
		answer(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), storeTimeout)
	defer cancel()
	res, err := r.Store(ctx, m, ns)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case apierrors.IsInvalid(err):
			code = http.StatusUnprocessableEntity // refused by the API server: a retry is refused too
		case apierrors.IsNotFound(err):
			code = http.StatusUnprocessableEntity
			err = fmt.Errorf("namespace %s does not exist (label %s): %w", ns, NamespaceLabel, err)
		case errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err):
			code = http.StatusServiceUnavailable
		}
		r.Log.Error(err, "alert notification not stored", "namespace", ns, "group", GroupHash(m.GroupKey), "status", code)
		answer(w, code, "not stored: "+err.Error())
		return
	}
	if res.Created || res.Recorded {
		r.Log.Info(res.Message, "incident", res.Incident, "group", GroupHash(m.GroupKey), "alerts", len(m.Alerts), "status", m.Status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(res)
}

// answer writes a plain-text answer (Alertmanager logs it on failure).
func answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

// authenticate checks the bearer token: 0 when it matches, 401 when missing or wrong,
// 503 when the Secret cannot be read (Alertmanager retries; the log says why).
func (r *Receiver) authenticate(req *http.Request) (int, string) {
	h := req.Header.Get("Authorization")
	scheme, given, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(given) == "" {
		return http.StatusUnauthorized, "a bearer token is required (Alertmanager's http_config.authorization)"
	}
	want, err := r.tokenHash(req.Context())
	if err != nil {
		r.Log.Error(err, "alert receiver: cannot read its token", "secret", r.TokenSecret.String())
		return http.StatusServiceUnavailable, "the receiver cannot read its token Secret; see the manager's log"
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(given)))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return http.StatusUnauthorized, "wrong bearer token"
	}
	return 0, ""
}

// tokenHash is the SHA-256 of the Secret's token, read again after tokenTTL.
func (r *Receiver) tokenHash(ctx context.Context) ([sha256.Size]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.tokAt.IsZero() && now.Sub(r.tokAt) < tokenTTL {
		return r.tokHash, nil
	}
	key := r.TokenKey
	if key == "" {
		key = DefaultTokenKey
	}
	sec := &corev1.Secret{}
	if err := r.Reader.Get(ctx, r.TokenSecret, sec); err != nil {
		return [sha256.Size]byte{}, err
	}
	tok := strings.TrimSpace(string(sec.Data[key]))
	if tok == "" {
		return [sha256.Size]byte{}, fmt.Errorf("secret %s has no key %q (or it is empty)", r.TokenSecret, key)
	}
	r.tokHash, r.tokAt = sha256.Sum256([]byte(tok)), now
	return r.tokHash, nil
}

// conflictBackoff retries a status write that lost a race (another post of the
// same group, or the Incident controller) with a fresh read.
var conflictBackoff = wait.Backoff{Steps: 12, Duration: 5 * time.Millisecond, Factor: 2, Jitter: 0.5, Cap: 500 * time.Millisecond}

// errCollision is a name shared by two group keys.
var errCollision = errors.New("an Incident of this name belongs to another alert group (hash collision)")

// Store finds or creates the group's Incident in ns and records the notification.
// The group's first Incident is Name(groupKey, 1); once a person resolved it, a
// firing alert not in its timeline opens Name(groupKey, 2), and so on. Concurrent
// posts of one group agree on the name: creation that finds it exists reads it again.
func (r *Receiver) Store(ctx context.Context, m *Message, ns string) (Result, error) {
	for attempt := 0; attempt < 5; attempt++ {
		var latest *opsv1alpha1.Incident
		n := 1
		for ; n <= MaxOpenings; n++ {
			inc := &opsv1alpha1.Incident{}
			err := r.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: Name(m.GroupKey, n)}, inc)
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return Result{}, err
			}
			if !SameGroup(inc, m) {
				return Result{}, fmt.Errorf("%s/%s: %w", ns, inc.Name, errCollision)
			}
			latest = inc
			if inc.Spec.Resolution == "" || !NewFiring(inc, m) || n == MaxOpenings {
				return r.record(ctx, inc, m, false)
			}
		}
		if latest == nil && len(m.Alerts.Firing()) == 0 {
			return Result{Message: "no Incident for this group and no alert firing: nothing to record"}, nil
		}
		inc := NewIncident(m, ns, n, r.Options)
		r.findRelease(ctx, inc, m)
		err := r.Client.Create(ctx, inc)
		if apierrors.IsAlreadyExists(err) {
			continue // another post created it: read it and record there
		}
		if err != nil {
			return Result{}, err
		}
		return r.record(ctx, inc, m, true)
	}
	return Result{}, errors.New("the group's Incident kept changing between reads; Alertmanager will retry")
}

// record adds the notification to inc's status, reading it again after a conflict.
func (r *Receiver) record(ctx context.Context, inc *opsv1alpha1.Incident, m *Message, created bool) (Result, error) {
	res := Result{Incident: inc.Namespace + "/" + inc.Name, Created: created}
	now := clock.Or(r.Clock).Now()
	first := true
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		if !first {
			if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(inc), inc); err != nil {
				return err
			}
		}
		first = false
		if !Record(inc, m, now) {
			res.Recorded = false
			return nil
		}
		res.Recorded = true
		return r.Client.Status().Update(ctx, inc)
	})
	if err != nil {
		return Result{}, err
	}
	switch {
	case created:
		res.Message = "opened Incident for the alert group"
	case res.Recorded:
		res.Message = "recorded the notification in the group's Incident"
	default:
		res.Message = "already recorded (a repeat): nothing changed"
	}
	return res, nil
}
