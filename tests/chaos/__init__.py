"""`make chaos`: the fault test over real NATS JetStream and PostgreSQL.

Embedded NATS and PostgreSQL in a temporary folder, the WhatsApp sandbox in this process
(playing Meta), and the five services as separate OS processes with the environment
`threadline up` gives them. Many customers write steadily (signed webhooks, every one delivered
one to three times, each delivery retried until it gets a 200, as Meta does) while each service
in turn is SIGKILLed and restarted, then NATS and then PostgreSQL. Once the platform is quiet,
the counts of the messages sent, the messages and replies the session stored, the replies the
sandbox received and the analytics read models must agree exactly.

    uv run python -m tests.chaos --help
"""
