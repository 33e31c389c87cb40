package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/client"
)

// done ends a run with exit code 0 and nothing more to print (after --bg).
var done = &exitErr{code: exitOK, silent: true}

// addBg adds the --bg flag of commands that start operations.
func addBg(cmd *cobra.Command, bg *bool) {
	cmd.Flags().BoolVar(bg, "bg", false, "return at once with the operation id(s) instead of waiting (follow with berth oper info ID)")
}

// follow waits for operations a command started, showing progress on stderr: a spinner
// with the step and the elapsed time on a terminal, a line per step change otherwise. With
// bg it prints the operations (ids, or JSON) and returns done. It returns the final state
// of the operations (operation.info), an error naming last_error when one fails, and exit
// code 130 when ctx is cancelled (the operations go on).
func (a *app) follow(ctx context.Context, what string, ops []client.Object, bg bool) ([]client.Object, error) {
	if bg {
		if a.asJSON {
			if err := a.printJSON(ops); err != nil {
				return nil, err
			}
		} else {
			for _, o := range ops {
				fmt.Fprintln(a.stdout, o.ID())
			}
		}
		fmt.Fprintf(a.stderr, "%s: %s started; follow with berth oper info %d\n", what, plural(len(ops), "operation"), ops[len(ops)-1].ID())
		return nil, done
	}
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	p := a.newProgress(what)
	initial := make([]api.Operation, len(ops))
	for i, o := range ops {
		initial[i] = client.AsOperation(o)
	}
	p.update(initial)
	final, err := c.Wait(ctx, ops, client.WaitOptions{Interval: a.poll, Progress: p.update})
	p.finish()
	if err == nil {
		return final, nil
	}
	if ctx.Err() != nil {
		var pending []string
		last := ops[len(ops)-1].ID()
		for _, o := range final {
			if !api.Terminal(o.Str("step")) {
				pending = append(pending, fmt.Sprintf("%d (%s)", o.ID(), o.Str("type")))
				last = o.ID()
			}
		}
		if len(pending) == 0 {
			pending = []string{strconv.FormatInt(last, 10)}
		}
		verb := "goes"
		if len(pending) > 1 {
			verb = "go"
		}
		if p.bar != nil {
			fmt.Fprintln(a.stderr) // after the ^C the terminal echoed
		}
		fmt.Fprintf(a.stderr, "berth: interrupted; %s %s %s on: follow with berth oper info %d\n",
			map[bool]string{true: "operation", false: "operations"}[len(pending) == 1], strings.Join(pending, ", "), verb, last)
		return final, &exitErr{code: exitInterrupted, silent: true}
	}
	var oe *client.OperationError
	if errors.As(err, &oe) {
		return final, fmt.Errorf("%s: %w", what, err)
	}
	return final, err
}

// progress shows operations' steps while they run.
type progress struct {
	a     *app
	what  string
	start time.Time
	bar   *progressbar.ProgressBar // nil unless stderr is a terminal
	last  map[int64]string         // step last printed, per operation
}

func (a *app) newProgress(what string) *progress {
	p := &progress{a: a, what: what, start: a.now(), last: map[int64]string{}}
	if isTerminal(a.stderr) {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetDescription(what),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

func (p *progress) elapsed() string {
	return p.a.now().Sub(p.start).Round(time.Second).String()
}

// update receives the operations after each poll.
func (p *progress) update(ops []api.Operation) {
	if p.bar != nil {
		p.bar.Describe(p.describe(ops))
		return
	}
	for _, o := range ops {
		if o.Step == "" || p.last[o.ID] == o.Step {
			continue
		}
		p.last[o.ID] = o.Step
		fmt.Fprintf(p.a.stderr, "%s: operation %d %s %s (%s)\n", p.what, o.ID, o.Type, o.Step, p.elapsed())
	}
}

// describe is the spinner text: the first unfinished operation and its step.
func (p *progress) describe(ops []api.Operation) string {
	finished := 0
	for _, o := range ops {
		if api.Terminal(o.Step) {
			finished++
		}
	}
	for _, o := range ops {
		if !api.Terminal(o.Step) {
			s := fmt.Sprintf("%s: %s %s", p.what, o.Type, o.Step)
			if len(ops) > 1 {
				s += fmt.Sprintf(" (%d/%d done)", finished, len(ops))
			}
			return s
		}
	}
	return p.what + ": done"
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}

// opsJSON prints the final operations with --json; the human form prints nothing (the
// message on stderr says what happened).
func (a *app) opsJSON(ops []client.Object) error {
	if a.asJSON {
		return a.printJSON(ops)
	}
	return nil
}

// do calls a mutating method, follows its operations and says msg on stderr at the end.
func (a *app) do(ctx context.Context, bg bool, what, msg string, method string, params ...any) ([]client.Object, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	ops, err := c.Do(ctx, method, params...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, errors.New(a.describe(err)))
	}
	final, err := a.follow(ctx, what, ops, bg)
	if err != nil {
		return final, err
	}
	if msg != "" {
		fmt.Fprintln(a.stderr, msg)
	}
	return final, nil
}
