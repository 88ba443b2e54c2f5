package devcluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisServer is Debian's redis-server (package redis-server), the runbook's Celery
// broker and result store.
const RedisServer = "/usr/bin/redis-server"

// Redis is a redis-server the devcluster runs on loopback, with a password, on a free
// port, keeping nothing on disk.
type Redis struct {
	Host     string
	Port     int
	Password string
	// LogPath is the server's log.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartRedis starts redis-server with its working folder and log in dir and returns
// once it answers PING.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	if _, err := os.Stat(RedisServer); err != nil {
		return nil, fmt.Errorf("%s is missing: install Debian's package redis-server", RedisServer)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	r := &Redis{Host: "127.0.0.1", Port: port, Password: hex.EncodeToString(pw),
		LogPath: filepath.Join(dir, "redis.log"), done: make(chan struct{})}
	conf := filepath.Join(dir, "redis.conf")
	// The password is in a file of mode 0600, not on the command line.
	if err := os.WriteFile(conf, fmt.Appendf(nil, "bind 127.0.0.1\nport %d\nrequirepass %s\nsave \"\"\nappendonly no\ndir %s\nlogfile %s\ndaemonize no\nprotected-mode yes\n",
		port, r.Password, dir, r.LogPath), 0o600); err != nil {
		return nil, err
	}
	r.cmd = exec.Command(RedisServer, conf)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := r.Ping(ctx)
		if err == nil {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("redis-server exited: %v (log %s)", r.err, r.LogPath)
		case <-ctx.Done():
			_ = r.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = r.Stop()
			return nil, fmt.Errorf("redis-server does not answer on port %d: %w (log %s)", port, err, r.LogPath)
		}
	}
}

// URL is the redis:// URL of database db, password included.
func (r *Redis) URL(db int) string {
	u := url.URL{Scheme: "redis", User: url.UserPassword("", r.Password), Host: net.JoinHostPort(r.Host, strconv.Itoa(r.Port)), Path: "/" + strconv.Itoa(db)}
	return u.String()
}

// Ping authenticates and sends PING, speaking RESP directly.
func (r *Redis) Ping(ctx context.Context) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cmd := fmt.Sprintf("*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n", len(r.Password), r.Password)
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	for _, want := range []string{"+OK", "+PONG"} {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(line); got != want {
			return fmt.Errorf("redis answered %q, want %q", got, want)
		}
	}
	return nil
}

// Stop terminates the server.
func (r *Redis) Stop() error {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	var ee *exec.ExitError
	if r.err != nil && !errors.As(r.err, &ee) {
		return r.err
	}
	return nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
