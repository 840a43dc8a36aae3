"""Fuzzing the whole platform with hostile input: `make fuzz` (`python -m tests.fuzz`).

Generators (`webhooks`, `gateway`, `grpc_cases`) make hostile webhook bodies, gateway requests
and gRPC calls from a seeded `random.Random`, so a run is reproducible from its seed; the
oracle (`oracle`, `campaign`) sends them to the real platform (`platform`) and judges every
answer, checks that the valid messages among them are stored exactly once and that nothing of
an unsigned body is kept, and sends a normal customer message every few hundred inputs that
must be answered in bounded time (the stall check).
"""
