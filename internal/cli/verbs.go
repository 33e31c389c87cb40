package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/client"
)

// This file holds the shapes the verbs of several nouns share: filter flags naming objects,
// "info NAME", acting on objects and waiting for the operations.

// idFilter is a list filter given by a flag that names an object: when arg is set, the object
// of kind k it names is resolved and its id goes to the filter key.
type idFilter struct {
	key string
	k   kind
	arg string
}

// resolveFilters resolves the set idFilters, in order, into f.
func (a *app) resolveFilters(ctx context.Context, f map[string]any, fs ...idFilter) error {
	for _, x := range fs {
		if x.arg == "" {
			continue
		}
		o, err := a.resolve(ctx, x.k, x.arg, nil)
		if err != nil {
			return err
		}
		f[x.key] = o.ID()
	}
	return nil
}

// dcFilter is the idFilter of a --datacenter flag.
func dcFilter(dc string) idFilter { return idFilter{"datacenter_id", kindDatacenter, dc} }

// infoOf resolves arg among the objects of k matching filters and returns its info struct.
func (a *app) infoOf(ctx context.Context, k kind, arg string, filters map[string]any) (client.Object, error) {
	o, err := a.resolve(ctx, k, arg, filters)
	if err != nil {
		return nil, err
	}
	return a.cl.Info(ctx, k.info, o.ID())
}

// infoCmd is the "info NAME" verb of a kind: it resolves the argument and prints the info
// struct, as JSON with --json, else with show.
func (a *app) infoCmd(k kind, use, short, example string, show func(ctx context.Context, info client.Object) error) *cobra.Command {
	info := func(ctx context.Context, arg string) (client.Object, error) { return a.infoOf(ctx, k, arg, nil) }
	return a.showCmd(&cobra.Command{Use: use, Short: short, Example: example, ValidArgsFunction: a.completer(k)}, info, show)
}

// showCmd completes cmd, a verb printing the object that find finds by the argument: as JSON
// with --json, else with show.
func (a *app) showCmd(cmd *cobra.Command, find finder, show func(ctx context.Context, o client.Object) error) *cobra.Command {
	cmd.Args = exactArgs(1)
	return objCmd(cmd, find, func(ctx context.Context, _ *cobra.Command, o client.Object, _ []string) error {
		return a.output(o, func() error { return show(ctx, o) })
	})
}

// addYes adds the --yes flag of commands that ask before deleting.
func addYes(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do not ask for confirmation")
}

// act is do for commands whose output is the final operations (JSON with --json, else only
// msg on stderr).
func (a *app) act(ctx context.Context, bg bool, what, msg string, method string, params ...any) error {
	final, err := a.do(ctx, bg, what, msg, method, params...)
	if err != nil {
		return err
	}
	return a.opsJSON(final)
}

// doEach calls method on the id of each object of kind k and gathers the operations; a
// failure names verb and the object ("stop vm web1: …").
func (a *app) doEach(ctx context.Context, k kind, verb, method string, objs []client.Object) ([]client.Object, error) {
	var ops []client.Object
	for _, o := range objs {
		l, err := a.cl.Do(ctx, method, o.ID())
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %s", verb, k.noun, o.Str(k.name), a.describe(err))
		}
		ops = append(ops, l...)
	}
	return ops, nil
}

// finish follows ops, says msg on stderr once they are done and prints them with --json.
func (a *app) finish(ctx context.Context, what, msg string, ops []client.Object, bg bool) error {
	final, err := a.follow(ctx, what, ops, bg)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, msg)
	return a.opsJSON(final)
}

// followNew follows the operations creating object id of kind k, after attaching it to VM v
// when v is set, and returns its info struct; it says "<label> created [and attached to vm
// X]" on stderr, label naming the new object from its info.
func (a *app) followNew(ctx context.Context, k kind, what string, id int64, ops []client.Object, v client.Object, bg bool,
	label func(info client.Object) string) (client.Object, error) {
	if v != nil {
		att, err := a.cl.Do(ctx, "hosting.vm."+k.noun+"_attach", v.ID(), id)
		if err != nil {
			return nil, fmt.Errorf("attach %s to vm %s: %s", what, v.Str("hostname"), a.describe(err))
		}
		ops = append(ops, att...)
	}
	if _, err := a.follow(ctx, what, ops, bg); err != nil {
		return nil, err
	}
	info, err := a.cl.Info(ctx, k.info, id)
	if err != nil {
		return nil, err
	}
	msg := label(info) + " created"
	if v != nil {
		msg += " and attached to vm " + v.Str("hostname")
	}
	fmt.Fprintln(a.stderr, msg)
	return info, nil
}

// finder finds an object by a command-line argument.
type finder func(ctx context.Context, arg string) (client.Object, error)

// resolver is the finder of objects of kind k by name or id.
func (a *app) resolver(k kind) finder {
	return func(ctx context.Context, arg string) (client.Object, error) { return a.resolve(ctx, k, arg, nil) }
}

// objCmd completes cmd, a verb on the object its first argument names: RunE finds that
// object with find and calls run with it.
func objCmd(cmd *cobra.Command, find finder, run func(ctx context.Context, cmd *cobra.Command, o client.Object, args []string) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		o, err := find(ctx, args[0])
		if err != nil {
			return err
		}
		return run(ctx, cmd, o, args)
	}
	return cmd
}

// deleteCmd completes cmd, the delete verb of one object that find finds by the argument:
// it asks "delete <what><also>?" (--yes skips the question), calls method with the object's
// id and waits for the operations (--bg does not).
func (a *app) deleteCmd(cmd *cobra.Command, find finder, what func(client.Object) string, also, method string) *cobra.Command {
	var bg, yes bool
	cmd.Args = exactArgs(1)
	objCmd(cmd, find, func(ctx context.Context, _ *cobra.Command, o client.Object, _ []string) error {
		w := what(o)
		if err := a.confirm(ctx, "delete "+w+also+"?", yes); err != nil {
			return err
		}
		return a.act(ctx, bg, w, w+" deleted", method, o.ID())
	})
	addBg(cmd, &bg)
	addYes(cmd, &yes)
	return cmd
}

// listCmd completes cmd, a list verb: it lists the objects of kind k matching what filters
// returns and prints them as JSON with --json, else as a table of head and the rows rows
// makes (none on stderr when there are none).
func (a *app) listCmd(cmd *cobra.Command, k kind, filters func(ctx context.Context) (map[string]any, error),
	head []string, none string, rows func(ctx context.Context, l []client.Object) ([][]string, error)) *cobra.Command {
	cmd.Args = exactArgs(0)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		f, err := filters(ctx)
		if err != nil {
			return err
		}
		l, err := a.list(ctx, k, f)
		if err != nil {
			return err
		}
		return a.output(l, func() error {
			r, err := rows(ctx, l)
			if err != nil {
				return err
			}
			return a.printTable(head, r, none)
		})
	}
	return cmd
}

// noFilters is the filters of a list verb without any.
func noFilters(context.Context) (map[string]any, error) { return nil, nil }

// objsCmd completes cmd, a verb on the objects of kind k its arguments name (one at least):
// RunE resolves them all, failing on the first unknown one, and calls run with them and
// their joined names ("web1, web2").
func (a *app) objsCmd(cmd *cobra.Command, k kind, run func(ctx context.Context, objs []client.Object, who string) error) *cobra.Command {
	cmd.Args = minArgs(1)
	cmd.ValidArgsFunction = a.completer(k)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		objs, err := a.resolveAll(ctx, k, args)
		if err != nil {
			return err
		}
		return run(ctx, objs, names(objs, k.name))
	}
	return cmd
}
