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

package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Shown is a shell command shown in a fenced block of a page: every line of a
// block that starts with a command word (commandWords), or, in a transcript (a
// block with "$ " lines), each "$ " line. A line ending in \, or followed by a line
// starting with |, goes on; a here-document's body belongs to its command, which is
// named by its first line (Command) and carries the body in Heredoc. A trailing
// # comment is not part of Command. Blocks of YAML, JSON, Python, text and command
// output hold no commands.
type Shown struct {
	Page    string // as given to ShownCommands
	Line    int    // 1-based
	Command string // one line, spaces collapsed, without a trailing comment
	Heredoc string // the here-document's body, if any
}

// commandWords start a block of commands.
var commandWords = map[string]bool{
	"kubectl": true, "make": true, "cp": true, "source": true, "export": true, "curl": true, "tail": true,
	"docker": true, "podman": true, "go": true, "jq": true, "psql": true, "aws": true, "helm": true, "git": true,
}

var (
	blockOpen = regexp.MustCompile("^(\\s*)(```|~~~)\\s*([A-Za-z0-9_+-]*)")
	heredoc   = regexp.MustCompile(`<<-?\s*'?"?([A-Za-z_]+)'?"?`)
	spaces    = regexp.MustCompile(`\s+`)
)

// Pages are the documentation pages in dir (the docs folder) and the top-level README.
func Pages(dir string) ([]string, error) {
	p, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	return append(p, filepath.Join(dir, "..", "README.md")), nil
}

// ShownCommands reads the commands shown in a page.
func ShownCommands(page string) ([]Shown, error) {
	b, err := os.ReadFile(page) //nolint:gosec // G304: the pages listed by Pages, read by tests
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var out []Shown
	for i := 0; i < len(lines); i++ {
		m := blockOpen.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[end]), m[2]) {
			end++
		}
		i = end
		switch m[3] {
		case "", "sh", "shell", "bash", "console":
		default:
			continue // yaml, json, python, text
		}
		out = append(out, blockCommands(page, start, lines[start:end])...)
	}
	return out, nil
}

// blockCommands are the commands of a fenced block whose first line is line start+1.
func blockCommands(page string, start int, body []string) []Shown {
	transcript := false
	first := ""
	for _, l := range body {
		if strings.HasPrefix(strings.TrimSpace(l), "$ ") {
			transcript = true
		}
		if f := strings.Fields(l); len(f) > 0 && first == "" {
			first = f[0]
		}
	}
	if !transcript && !commandWords[first] {
		return nil // output, a folder listing
	}
	var out []Shown
	for j := 0; j < len(body); j++ {
		l := strings.TrimSpace(body[j])
		if transcript {
			var ok bool
			if l, ok = strings.CutPrefix(l, "$ "); !ok {
				continue
			}
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s := Shown{Page: page, Line: start + j + 1}
		cmd := l
		for strings.HasSuffix(cmd, `\`) && j+1 < len(body) {
			j++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(body[j])
		}
		for j+1 < len(body) && strings.HasPrefix(strings.TrimSpace(body[j+1]), "|") {
			j++
			cmd += " " + strings.TrimSpace(body[j])
		}
		if h := heredoc.FindStringSubmatch(cmd); h != nil {
			var doc []string
			for j+1 < len(body) && strings.TrimSpace(body[j+1]) != h[1] {
				j++
				doc = append(doc, body[j])
			}
			j++ // the terminator
			s.Heredoc = strings.Join(doc, "\n") + "\n"
		}
		s.Command = spaces.ReplaceAllString(strings.TrimSpace(withoutComment(cmd)), " ")
		out = append(out, s)
	}
	return out
}

// withoutComment cuts a trailing # comment (a # after a space, outside quotes).
func withoutComment(s string) string {
	var quote rune
	prev := ' '
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t'):
			return s[:i]
		}
		prev = r
	}
	return s
}

// Script is the command as a shell runs it: with its here-document.
func (s Shown) Script() string {
	if s.Heredoc == "" {
		return s.Command
	}
	h := heredoc.FindStringSubmatch(s.Command)
	return s.Command + "\n" + s.Heredoc + h[1] + "\n"
}

// IsPlugin says whether the command is `kubectl runbook …`.
func (s Shown) IsPlugin() bool { return strings.HasPrefix(s.Command, "kubectl runbook ") }
