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
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ToolsRoot holds one directory of client programs per major version,
// <ToolsRoot>/<major>/bin (Debian's layout, which the agent image keeps).
var ToolsRoot = "/usr/lib/postgresql"

// Tools is one major version's client programs (pg_dump, pg_restore, psql),
// chosen for a server.
type Tools struct {
	Major   int
	Dir     string  // holds pg_dump, pg_restore and psql
	Version Version // of pg_dump
	Server  Version // the server they were chosen for
}

// Path returns the path of the client program name.
func (t Tools) Path(name string) string { return filepath.Join(t.Dir, name) }

// String names the tools as the manifest and the log record them.
func (t Tools) String() string {
	return fmt.Sprintf("PostgreSQL %s client tools (%s)", t.Version.Text, t.Dir)
}

// InstalledTools lists the client tools the agent can use, oldest first: BinDir
// (PG_BINDIR) alone when it is set, else every <ToolsRoot>/<major>/bin with a
// pg_dump, else the pg_dump on the PATH.
func InstalledTools(ctx context.Context) ([]Tools, error) {
	var dirs []string
	switch {
	case BinDir != "":
		dirs = []string{BinDir}
	default:
		entries, _ := os.ReadDir(ToolsRoot)
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				dirs = append(dirs, filepath.Join(ToolsRoot, e.Name(), "bin"))
			}
		}
	}
	var tools []Tools
	for _, d := range dirs {
		if t, err := toolsIn(ctx, d); err == nil {
			tools = append(tools, t)
		}
	}
	if len(tools) == 0 && BinDir == "" {
		if p, err := exec.LookPath("pg_dump"); err == nil {
			if t, err := toolsIn(ctx, filepath.Dir(p)); err == nil {
				tools = append(tools, t)
			}
		}
	}
	if len(tools) == 0 {
		where := ToolsRoot + "/<major>/bin"
		if BinDir != "" {
			where = BinDir
		}
		return nil, &Error{Permanent: true, Msg: "no PostgreSQL client tools (pg_dump, pg_restore, psql) are installed in the agent image (looked in " + where + ")"}
	}
	slices.SortFunc(tools, func(a, b Tools) int { return a.Major - b.Major })
	return tools, nil
}

func toolsIn(ctx context.Context, dir string) (Tools, error) {
	for _, name := range []string{"pg_dump", "pg_restore", "psql"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return Tools{}, err
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "pg_dump"), "--version").Output() //nolint:gosec // G204: a PostgreSQL bin folder of the image, found by toolsIn's caller
	if err != nil {
		return Tools{}, fmt.Errorf("%s/pg_dump --version: %w", dir, err)
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return Tools{}, err
	}
	return Tools{Major: v.Major, Dir: dir, Version: v}, nil
}

// ChooseTools picks, from installed (oldest first), the client tools for server:
// those of its own major version (what keeps a dump restorable with the user's
// own tools), else the nearest newer ones, and never older than minMajor (a
// restore passes the major of the pg_dump that made the archive, which older
// pg_restores cannot read; a backup passes 0). A server newer than every tool is
// refused: pg_dump refuses to dump it and pg_restore may not restore into it.
func ChooseTools(installed []Tools, server Version, minMajor int) (Tools, error) {
	want := max(server.Major, minMajor)
	for _, t := range installed {
		if t.Major >= want {
			t.Server = server
			return t, nil
		}
	}
	majors := make([]string, len(installed))
	for i, t := range installed {
		majors[i] = strconv.Itoa(t.Major)
	}
	have := strings.Join(majors, ", ")
	if minMajor > server.Major {
		return Tools{}, &Error{Permanent: true, Msg: fmt.Sprintf(
			"the dump was made by pg_dump %d, newer than every pg_restore in the agent image (PostgreSQL %s client tools), and older pg_restores cannot read it: use an agent image with PostgreSQL %d client tools; nothing was restored",
			minMajor, have, minMajor)}
	}
	return Tools{}, &Error{Permanent: true, Msg: fmt.Sprintf(
		"the PostgreSQL server %s is newer than every client tool in the agent image (PostgreSQL %s): use an agent image with PostgreSQL %d client tools; nothing was written",
		server.Text, have, server.Major)}
}

// SelectTools is ChooseTools over InstalledTools.
func SelectTools(ctx context.Context, server Version, minMajor int) (Tools, error) {
	installed, err := InstalledTools(ctx)
	if err != nil {
		return Tools{}, err
	}
	return ChooseTools(installed, server, minMajor)
}

// settingsSince are the session settings pg_restore sets at the start of every
// restore, with the server major that introduced them. pg_restore sets them
// whatever the server's version, and an older server rejects the SET with
// "unrecognized configuration parameter", which --exit-on-error turns into a
// failed restore.
var settingsSince = []struct {
	Name  string
	Major int
}{
	{"transaction_timeout", 17}, // SET transaction_timeout = 0 (pg_restore 17)
}

// UnknownSettings lists the settings these tools' pg_restore sets that their
// server does not have (empty when the tools are the server's own major).
func (t Tools) UnknownSettings() []string {
	var out []string
	for _, s := range settingsSince {
		if t.Major >= s.Major && t.Server.Major > 0 && t.Server.Major < s.Major {
			out = append(out, s.Name)
		}
	}
	return out
}
