package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"mb": func(mb int64) string {
		if mb >= 1024 && mb%1024 == 0 {
			return fmt.Sprintf("%d GB", mb/1024)
		}
		if mb >= 1024 {
			return fmt.Sprintf("%.1f GB", float64(mb)/1024)
		}
		return fmt.Sprintf("%d MB", mb)
	},
	"credits": func(milli int64) string { return fmt.Sprintf("%.3f", float64(milli)/1000) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"stepclass":  func(step string) string { return "step-" + strings.ToLower(step) },
	"stateclass": func(state string) string { return "state-" + strings.ReplaceAll(state, "_", "-") },
	"add":        func(a, b int64) int64 { return a + b },
	"sub":        func(a, b int64) int64 { return a - b },
	"div1024":    func(a int64) int64 { return a / 1024 },
}
