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
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestChooseTools(t *testing.T) {
	image := []Tools{{Major: 13}, {Major: 15}, {Major: 17}}
	for _, tc := range []struct {
		server, minMajor int
		want             int    // 0: refused
		unknown          string // UnknownSettings, joined
		err              string
	}{
		{server: 13, want: 13},
		{server: 14, want: 15}, // no 14 in Debian: the nearest newer
		{server: 15, want: 15},
		{server: 16, want: 17, unknown: "transaction_timeout"},
		{server: 17, want: 17},
		{server: 18, err: "the PostgreSQL server 18.1 is newer than every client tool in the agent image (PostgreSQL 13, 15, 17): use an agent image with PostgreSQL 18 client tools; nothing was written"},
		{server: 15, minMajor: 17, want: 17, unknown: "transaction_timeout"}, // a pg_dump 17 dump into PostgreSQL 15
		{server: 13, minMajor: 15, want: 15},
		{server: 17, minMajor: 13, want: 17},
		{server: 15, minMajor: 18, err: "the dump was made by pg_dump 18, newer than every pg_restore"},
	} {
		server := Version{Major: tc.server, Minor: 1, Text: strconv.Itoa(tc.server) + ".1"}
		got, err := ChooseTools(image, server, tc.minMajor)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !IsPermanent(err) {
				t.Errorf("server %d min %d: got %v, %v; want permanent error %q", tc.server, tc.minMajor, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Major != tc.want || got.Server != server {
			t.Errorf("server %d min %d: got %+v, %v; want tools %d", tc.server, tc.minMajor, got, err, tc.want)
		}
		if u := strings.Join(got.UnknownSettings(), ","); u != tc.unknown {
			t.Errorf("server %d with tools %d: unknown settings %q, want %q", tc.server, got.Major, u, tc.unknown)
		}
	}
}

func TestHeaderFilterDropsOnlyTheHeadersSettings(t *testing.T) {
	script := `--
-- PostgreSQL database dump
--

\restrict abc

-- Dumped by pg_dump version 17.12

SET statement_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.t (s text);

COPY public.t (s) FROM stdin;
SET transaction_timeout = 0;
\.

\unrestrict abc
`
	var dropped []string
	f := &headerFilter{r: bufio.NewReaderSize(strings.NewReader(script), 16), drop: []string{"transaction_timeout"}}
	out, err := io.ReadAll(iotestOneByte{f})
	if err != nil {
		t.Fatal(err)
	}
	dropped = f.dropped
	want := strings.Replace(script, "SET statement_timeout = 0;\nSET transaction_timeout = 0;\n", "SET statement_timeout = 0;\n", 1)
	if string(out) != want {
		t.Errorf("filtered script:\n%s\nwant:\n%s", out, want)
	}
	if !slices.Equal(dropped, []string{"SET transaction_timeout = 0;"}) {
		t.Errorf("dropped %q", dropped)
	}
}

// iotestOneByte reads one byte at a time, as a slow pipe may.
type iotestOneByte struct{ r io.Reader }

func (o iotestOneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
