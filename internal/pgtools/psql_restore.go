/*
Copyright 2026.

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

package pgtools

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// restoreThroughPsql restores with client tools newer than the server, whose
// pg_restore sets settings the server does not know (unknown, e.g.
// transaction_timeout from pg_restore 17 into PostgreSQL 13–16): pg_restore
// writes the SQL script (args, without -d), the session-setup SET statements of
// those settings are removed from its header, and psql runs the rest with
// ON_ERROR_STOP — any other error still stops the restore, as --exit-on-error
// does. It is serial (pg_restore -j needs a database connection); the agent's
// streamed restore still runs several such pipelines at once.
func restoreThroughPsql(ctx context.Context, o RestoreOptions, restorePath string, args, unknown []string) error {
	psqlPath, err := o.Tools.program("psql")
	if err != nil {
		return err
	}
	rtail := &stderrTail{max: 4096, log: o.Log}
	ptail := &stderrTail{max: 4096, log: o.Log}
	restore := command(ctx, restorePath, o.Target.Env(o.Database), append(args, "-f", "-")...)
	psql := command(ctx, psqlPath, o.Target.Env(o.Database), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1")
	script, scriptW, err := os.Pipe()
	if err != nil {
		return err
	}
	restore.Stdout, restore.Stderr = scriptW, rtail
	psql.Stdin = &headerFilter{r: bufio.NewReaderSize(script, 1<<20), drop: unknown, log: o.Log}
	psql.Stdout, psql.Stderr = io.Discard, ptail
	if err := psql.Start(); err != nil {
		_ = script.Close()
		_ = scriptW.Close()
		return err
	}
	restored := make(chan error, 1)
	go func() {
		err := runWithStdin(restore, o.File == "", o.Stdin)
		_ = scriptW.Close()
		restored <- err
	}()
	perr := psql.Wait()
	// A psql that stopped on an error reads no more: let pg_restore see it.
	_ = script.Close()
	rerr := <-restored
	if ctx.Err() != nil && (perr != nil || rerr != nil) {
		return fmt.Errorf("pg_restore interrupted: %w", context.Cause(ctx))
	}
	if perr != nil {
		return dumpError("pg_restore (through psql, without "+strings.Join(unknown, ", ")+")", perr, ptail.String())
	}
	if rerr != nil {
		return dumpError("pg_restore", rerr, rtail.String())
	}
	return nil
}

// headerFilter passes pg_restore's script through, removing from its header
// (the session setup before the first object, where pg_restore writes its
// SETs) the statements "SET <name> = …;" of the settings in drop. Everything
// after the header, table data included, passes unchanged.
type headerFilter struct {
	r       *bufio.Reader
	drop    []string
	log     io.Writer
	body    bool
	pending []byte
	dropped []string
}

func (f *headerFilter) Read(p []byte) (int, error) {
	for !f.body && len(f.pending) == 0 {
		line, err := f.r.ReadString('\n')
		if line == "" && err != nil {
			return 0, err
		}
		if f.header(line) {
			continue
		}
		f.pending = []byte(line)
	}
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	return f.r.Read(p)
}

// header reports whether line is a header statement to drop, and ends the
// header at the first line that is neither a comment, blank, pg_restore's
// \restrict (17.6 and later), nor a SET or SELECT of the session setup.
func (f *headerFilter) header(line string) bool {
	s := strings.TrimSpace(line)
	for _, name := range f.drop {
		if strings.HasPrefix(s, "SET "+name+" ") || strings.HasPrefix(s, "SET "+name+"=") {
			if f.log != nil {
				_, _ = fmt.Fprintf(f.log, "pg_restore %q skipped: the server has no %s\n", s, name)
			}
			f.dropped = append(f.dropped, s)
			return true
		}
	}
	switch {
	case s == "", strings.HasPrefix(s, "--"), strings.HasPrefix(s, `\restrict `),
		strings.HasPrefix(s, "SET "), strings.HasPrefix(s, "SELECT pg_catalog.set_config("):
	default:
		f.body = true
	}
	return false
}
