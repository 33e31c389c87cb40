package main

import (
	"fmt"
	"io"
)

// agentScalingGoal is what two agents should create against one (issue 10): creates take
// no global lock, so a second host's workers add throughput.
const agentScalingGoal = 1.7

// printAgentScaling prints the creates/s of two agents over one agent on PostgreSQL, when
// both ran. With --sim-latency 0 the drivers answer at once and the machine's CPUs bound
// both configurations alike; a latency standing for the host's own work (e.g. 100ms) is
// what a second agent adds workers for.
func printAgentScaling(out io.Writer, sms []summary) {
	var one, two *summary
	for i := range sms {
		switch sms[i].setup.name {
		case "pg-1":
			one = &sms[i]
		case "pg-2":
			two = &sms[i]
		}
	}
	if one == nil || two == nil || len(one.creates) == 0 || len(two.creates) == 0 || median(one.creates) == 0 {
		return
	}
	r := median(two.creates) / median(one.creates)
	verdict := "goal met"
	if r < agentScalingGoal {
		verdict = "below the goal"
	}
	fmt.Fprintf(out, "\nagent scaling: creates/s with 2 agents / 1 agent (PostgreSQL) = %.1f / %.1f = %.2fx (goal >= %.1fx: %s)\n",
		median(two.creates), median(one.creates), r, agentScalingGoal, verdict)
}
