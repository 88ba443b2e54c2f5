package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// tableAccept asks the API server for its table rendering of a list, the one kubectl
// prints: the kind's printer columns, dates already turned into ages.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// Table fetches the server-side table of resource ("databasebackups", "jobs", …) in
// the demo namespace, as `kubectl get` would show it.
func (e *Env) Table(ctx context.Context, resource string) (*metav1.Table, error) {
	gvr, err := e.mapper.ResourceFor(schema.GroupVersionResource{Resource: resource})
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", resource, err)
	}
	path := "/apis/" + gvr.Group + "/" + gvr.Version
	if gvr.Group == "" {
		path = "/api/" + gvr.Version
	}
	path += "/namespaces/" + e.Namespace + "/" + gvr.Resource
	raw, err := e.Clientset.Discovery().RESTClient().Get().AbsPath(path).
		SetHeader("Accept", tableAccept).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", resource, err)
	}
	t := &metav1.Table{}
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, fmt.Errorf("list %s: %w", resource, err)
	}
	return t, nil
}

// ShowTables prints `kubectl -n demo get` for each resource.
func (e *Env) ShowTables(ctx context.Context, resources ...string) error {
	for _, r := range resources {
		t, err := e.Table(ctx, r)
		if err != nil {
			return err
		}
		e.Out.Command("kubectl -n %s get %s", e.Namespace, r)
		e.Out.Block(FormatTable(t, e.Namespace))
	}
	return nil
}

// FormatTable renders a server-side table like kubectl does: upper-case headers,
// columns of priority 0 only, three spaces between columns. An empty list reads
// "No resources found in NAMESPACE namespace.".
func FormatTable(t *metav1.Table, namespace string) string {
	if len(t.Rows) == 0 {
		return fmt.Sprintf("No resources found in %s namespace.", namespace)
	}
	var cols []int
	var header []string
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, i)
			header = append(header, strings.ToUpper(c.Name))
		}
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 6, 4, 3, ' ', 0)
	_, _ = fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, row := range t.Rows {
		cells := make([]string, 0, len(cols))
		for _, i := range cols {
			var v any
			if i < len(row.Cells) {
				v = row.Cells[i]
			}
			cells = append(cells, formatCell(v))
		}
		_, _ = fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	_ = w.Flush()
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(b.String(), "\n"), "\n") {
		lines = append(lines, strings.TrimRight(line, " "))
	}
	return strings.Join(lines, "\n")
}

// formatCell prints a JSON cell value: nothing for a missing value, whole numbers
// without a decimal point.
func formatCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprint(x)
	default:
		return fmt.Sprint(x)
	}
}
