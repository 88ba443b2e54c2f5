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

// Package argocd runs the Argo CD health scripts in config/argocd with gopher-lua
// (the interpreter Argo CD embeds), so tests can check what Argo CD would show.
package argocd

import (
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
)

// Scripts names the health script of each kind in config/argocd.
var Scripts = map[string]string{
	"BackupSchedule": "backupschedule.lua", "DatabaseBackup": "databasebackup.lua", "DatabaseRestore": "databaserestore.lua",
	"Incident": "incident.lua", "Release": "release.lua", "SecretRotation": "secretrotation.lua",
}

// Health runs script with obj (an unstructured object) as Argo CD does and returns
// the health status and message.
func Health(script string, obj map[string]any) (status, message string, err error) {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", fmt.Errorf("script error: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("script returned %s, want a table", L.Get(-1).Type())
	}
	return ret.RawGetString("status").String(), ret.RawGetString("message").String(), nil
}

// HealthOf runs the script of kind from the config/argocd folder dir.
func HealthOf(dir, kind string, obj map[string]any) (status, message string, err error) {
	script, err := os.ReadFile(filepath.Join(dir, Scripts[kind])) //nolint:gosec // G304: a script of this repository's config/argocd, named by Scripts
	if err != nil {
		return "", "", err
	}
	return Health(string(script), obj)
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case nil:
		return lua.LNil
	}
	panic(fmt.Sprintf("unexpected type %T", v))
}
