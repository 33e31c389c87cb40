package ops

import "github.com/berth-io/berth/internal/store"

// Keys of the results Execute records in an operation's params (Berth extensions,
// docs/api.md).
const (
	// ResultGuest is what became of a vm_update's hostname or password in the guest:
	// "updated", or "not reached: <why>" (the update is recorded all the same).
	ResultGuest = "guest_agent"
	// ResultConsistency is what a snapshot holds (hypervisor.Consistency): "filesystem",
	// "crash" or "offline".
	ResultConsistency = "consistency"
)

// SetResult records key=value in op's params, which operation.info shows. Handler.Execute
// calls it; the engine saves the params with the operation's end.
func SetResult(op *store.Operation, key string, value any) {
	if op.Params == nil {
		op.Params = map[string]any{}
	}
	op.Params[key] = value
}
