"""Fuzzing the whole platform with hostile input: `make fuzz` (`python -m tests.fuzz`).

Generators (`webhooks`, `gateway`, `grpc_cases`) make hostile webhook bodies, HTTP requests and
gRPC calls from a seeded `random.Random`, so a run is reproducible from its seed; `platform`
starts the five services (as `threadline up` does, or in this process) with the sandbox here;
`campaign` sends rounds of inputs and `oracle` judges every answer. Between rounds: the backlog
must drain, a new customer must be answered and reach the read models (the stall check), and
customers who sent hostile input must still be answered; `watchers` follow the event log and
streams: valid messages stored exactly once, nothing kept of an unsigned body, no event lost to
a dead letter downstream. `report` prints the figures and saves failing inputs for `--replay`.
"""
