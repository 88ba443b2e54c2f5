package nodeagent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// serveKubeletAPI serves the part of the kubelet API the API server proxies for
// `kubectl logs`: GET /containerLogs/{namespace}/{pod}/{container} with follow,
// previous, tailLines and limitBytes. It listens with a self-signed certificate on a
// free port of HostIP; the API server does not verify kubelet certificates when it
// has no kubelet CA configured (envtest configures none). exec, attach and
// port-forward are not supported.
func (a *Agent) serveKubeletAPI(ctx context.Context) (int, error) {
	cert, err := selfSignedCert(a.opts.HostIP)
	if err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.opts.HostIP, "0"))
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.containerLogs)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the devcluster node agent serves container logs only", http.StatusNotImplemented)
	})
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (a *Agent) workerFor(namespace, pod string) *podWorker {
	key := namespace + "/" + pod
	a.mu.Lock()
	defer a.mu.Unlock()
	var found *podWorker
	for _, w := range a.workers {
		if w.key == key {
			found = w
		}
	}
	return found
}

func (a *Agent) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, podName, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	worker := a.workerFor(ns, podName)
	if worker == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not running on node %s", ns, podName, a.opts.NodeName), http.StatusNotFound)
		return
	}
	// Only a container of the pod names a log file: the name comes from the URL and
	// could otherwise lead out of the pod's folder ("..%2F..%2Fx").
	if !hasContainer(worker.currentPod(), container) {
		http.Error(w, fmt.Sprintf("container %q in pod %q is not available", container, podName), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	path := filepath.Join(worker.dir, container+".log")
	if q.Get("previous") == "true" {
		path = filepath.Join(worker.dir, container+".previous.log")
	}
	data, err := os.ReadFile(path) //nolint:gosec // G304: a log in the pod's folder, of a container the pod has (checked above)
	if os.IsNotExist(err) {
		if q.Get("previous") == "true" {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, podName), http.StatusBadRequest)
			return
		}
		data, err = nil, nil
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 {
		data = lastLines(data, n)
	}
	limit := int64(-1)
	if n, err := strconv.ParseInt(q.Get("limitBytes"), 10, 64); err == nil && n > 0 {
		limit = n
		if int64(len(data)) > limit {
			data = data[:limit]
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	written, _ := w.Write(data) //nolint:gosec // G705: plain text that browsers may not sniff as HTML, as the kubelet serves it
	if q.Get("follow") != "true" || q.Get("previous") == "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	offset := int64(len(data))
	if q.Get("tailLines") != "" || limit > 0 {
		if fi, err := os.Stat(path); err == nil { //nolint:gosec // G703: as above
			offset = fi.Size()
		}
	}
	total := int64(written)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		f, err := os.Open(path) //nolint:gosec // G304: as above
		if err != nil {
			return
		}
		fi, _ := f.Stat()
		if fi != nil && fi.Size() < offset {
			offset = 0 // rotated by a restart
		}
		_, _ = f.Seek(offset, io.SeekStart)
		n, _ := io.Copy(w, limitReader(f, limit, total))
		_ = f.Close()
		offset += n
		total += n
		if limit > 0 && total >= limit {
			return
		}
		if n == 0 && !worker.containerRunning(container) {
			return
		}
	}
}

func limitReader(r io.Reader, limit, done int64) io.Reader {
	if limit <= 0 {
		return r
	}
	return io.LimitReader(r, limit-done)
}

func lastLines(b []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	trimmed := bytes.TrimRight(b, "\n")
	idx := len(trimmed)
	for i := 0; i < n; i++ {
		j := bytes.LastIndexByte(trimmed[:idx], '\n')
		if j < 0 {
			return b
		}
		idx = j
	}
	return b[idx+1:]
}

// containerRunning reports whether the named container runs or will run again.
func (w *podWorker) containerRunning(name string) bool {
	select {
	case <-w.done:
		return false
	default:
	}
	r := w.snapshot()
	for _, c := range append(r.Init, r.Containers...) {
		if c.Name == name {
			return !c.Final && c.State.Terminated == nil
		}
	}
	return false
}

func selfSignedCert(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "devcluster-nodeagent"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if !strings.Contains(host, " ") {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// hasContainer reports whether the pod has a container or init container named name.
func hasContainer(pod *corev1.Pod, name string) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}
